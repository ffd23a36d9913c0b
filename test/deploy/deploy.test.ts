/**
 * Checks on deploy/ that can run without Docker or a cluster.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { BATCH_QUEUE, ENV_VARS, configValue, waitListKey } from '@overmap/shared';
import { ROOT, tmpDir } from '../helpers/services';

const run = promisify(execFile);
/** The fields of the rendered manifests' `spec`s that these checks read (the schemas are Kubernetes's and KEDA's). */
interface Container {
  env?: { name: string; valueFrom?: { secretKeyRef?: unknown } }[];
  envFrom?: unknown[];
  resources: { limits: Record<string, unknown> };
  readinessProbe: { httpGet: { path: string } };
  livenessProbe: { httpGet: { path: string } };
}
interface Spec {
  triggers: { type: string; metadata: { listName: string }; authenticationRef: { name: string } }[];
  minReplicaCount: number;
  scaleTargetRef: { name: string };
  template: {
    spec: { containers: Container[]; tolerations: { key: string }[]; terminationGracePeriodSeconds: number };
  };
}
type Doc = { kind: string; metadata: { name: string }; spec?: Spec; data?: Record<string, string> };
let rendered: Record<string, Doc[]>;

beforeAll(async () => {
  const { stdout } = await run(process.execPath, [path.join(ROOT, 'deploy/validate.mjs'), '--json'], {
    maxBuffer: 16 << 20,
  });
  rendered = JSON.parse(stdout);
});

const find = (docs: Doc[], kind: string, name?: string) =>
  docs.find((d) => d.kind === kind && (!name || d.metadata.name === name))!;

describe('Kubernetes manifests', () => {
  it('all parse and validate against the Kubernetes, KEDA and Prometheus Operator schemas', async () => {
    const { stdout } = await run(process.execPath, [path.join(ROOT, 'deploy/validate.mjs')]);
    expect(stdout).toMatch(/2 overlays rendered, all manifests valid/);
    expect(Object.keys(rendered).sort()).toEqual(['cpu', 'gpu']);
  });

  it('a broken manifest is reported, with the field', async () => {
    const dir = await tmpDir();
    await fs.cp(path.join(ROOT, 'deploy/k8s'), dir, { recursive: true });
    const f = path.join(dir, 'base/worker-deployment.yaml');
    await fs.writeFile(f, (await fs.readFile(f, 'utf8')).replace('replicas: 0', 'replicas: "zero"'));
    const err = await run(process.execPath, [path.join(ROOT, 'deploy/validate.mjs')], {
      env: { ...process.env, OVERMAP_K8S_DIR: dir },
    }).then(
      () => null,
      (e) => e,
    );
    expect(err).not.toBeNull();
    expect(err.stderr).toMatch(/Deployment overmap-worker: .*replicas/);
    await fs.rm(dir, { recursive: true, force: true });
  });

  it.each(['gpu', 'cpu'])('%s: KEDA watches the Redis list the queue actually uses', (overlay) => {
    const docs = rendered[overlay]!;
    const prefix = find(docs, 'ConfigMap', 'overmap-config').data!.OVERMAP_QUEUE_PREFIX;
    const so = find(docs, 'ScaledObject');
    const trigger = so.spec!.triggers[0]!;
    expect(trigger.type).toBe('redis');
    expect(trigger.metadata.listName).toBe(
      waitListKey(BATCH_QUEUE, configValue('OVERMAP_QUEUE_PREFIX', { OVERMAP_QUEUE_PREFIX: prefix })),
    );
    expect(so.spec!.minReplicaCount).toBe(0);
    expect(so.spec!.scaleTargetRef.name).toBe(find(docs, 'Deployment').metadata.name);
    expect(trigger.authenticationRef.name).toBe(find(docs, 'TriggerAuthentication').metadata.name);
  });

  it.each(['gpu', 'cpu'])(
    '%s: every variable set is one the config reads, and the required ones are set',
    (overlay) => {
      const docs = rendered[overlay]!;
      const cm = find(docs, 'ConfigMap', 'overmap-config').data!;
      const aws = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_REGION', 'AWS_PROFILE'];
      for (const kind of ['Deployment', 'Job']) {
        const pod = find(docs, kind).spec!.template.spec;
        for (const c of pod.containers) {
          const names = [...(c.env ?? []).map((e) => e.name), ...(c.envFrom ?? []).flatMap(() => Object.keys(cm))];
          for (const n of names) expect([...ENV_VARS, ...aws]).toContain(n);
          expect(names).toContain('REDIS_URL');
          // secrets are referenced, never inlined
          for (const e of c.env ?? [])
            if (/KEY|PASSWORD|URL/.test(e.name) && e.name !== 'S3_ENDPOINT')
              expect(e.valueFrom?.secretKeyRef).toBeDefined();
        }
      }
    },
  );

  it('gpu: one GPU per worker pod, probes on /readyz and /healthz, a grace period above the batch grace', () => {
    const d = find(rendered.gpu!, 'Deployment');
    const pod = d.spec!.template.spec;
    const c = pod.containers[0]!;
    expect(c.resources.limits['nvidia.com/gpu']).toBe(1);
    expect(c.readinessProbe.httpGet.path).toBe('/readyz');
    expect(c.livenessProbe.httpGet.path).toBe('/healthz');
    expect(pod.tolerations[0]!.key).toBe('nvidia.com/gpu');
    const grace = Number(find(rendered.gpu!, 'ConfigMap').data!.OVERMAP_GRACE_SECONDS);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(grace);
  });
});

describe('Dockerfiles', () => {
  const dockerfiles = ['worker-gpu', 'worker-onnx-gpu', 'worker-cpu', 'producer'];

  it('their entrypoint is the overmap bin that the packed CLI package ships', async () => {
    const cliPkg = JSON.parse(await fs.readFile(path.join(ROOT, 'packages/cli/package.json'), 'utf8'));
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '-w', '@overmap/cli'], { cwd: ROOT });
    const packed: string[] = JSON.parse(stdout)[0].files.map((f: { path: string }) => f.path);
    expect(packed).toContain(cliPkg.bin.overmap);
    expect(packed).toContain('dist/main.js');
    for (const name of dockerfiles) {
      const text = await fs.readFile(path.join(ROOT, `deploy/docker/${name}.Dockerfile`), 'utf8');
      // node, optional V8 flags (the CPU worker runs single-threaded GC), then the bin
      const entry = /ENTRYPOINT \["node", (?:"--[a-z-]+", )*"([^"]+)"\]/.exec(text)![1]!;
      expect(entry).toBe(`packages/cli/${cliPkg.bin.overmap}`);
      await expect(fs.access(path.join(ROOT, entry))).resolves.toBeUndefined();
      expect(text).toMatch(/USER (node|10001)/);
    }
  });

  it('the GPU image installs the tfjs-node-gpu version that matches @tensorflow/tfjs in the lockfile', async () => {
    const lock = JSON.parse(await fs.readFile(path.join(ROOT, 'package-lock.json'), 'utf8'));
    const tfjs = lock.packages['node_modules/@tensorflow/tfjs'].version;
    const text = await fs.readFile(path.join(ROOT, 'deploy/docker/worker-gpu.Dockerfile'), 'utf8');
    expect(/ARG TFJS_VERSION=(\S+)/.exec(text)![1]).toBe(tfjs);
    expect(text).toMatch(/tfjs-node-gpu@\$\{TFJS_VERSION\}/);
    // libtensorflow 2.9.1 needs CUDA 11.2 and cuDNN 8
    expect(text).toMatch(/FROM nvidia\/cuda:11\.2\.\d+-cudnn8-runtime/);
  });

  it("the ONNX GPU image installs onnxruntime-node's CUDA 12 providers on a CUDA 12 + cuDNN 9 base; the others skip that download", async () => {
    const text = await fs.readFile(path.join(ROOT, 'deploy/docker/worker-onnx-gpu.Dockerfile'), 'utf8');
    // onnxruntime-node 1.30's CUDA provider is built for CUDA 12.x with cuDNN 9 (the "cudnn" images from 12.4 on)
    expect(text).toMatch(/FROM nvidia\/cuda:12\.([4-9]|\d\d)\.\d+-cudnn-runtime/);
    expect(text).toMatch(/ENV ONNXRUNTIME_NODE_INSTALL=cuda12/);
    expect(text).toMatch(/OVERMAP_BACKEND=onnx/);
    expect(text).toMatch(/OVERMAP_ONNX_PROVIDERS=cuda,cpu/);
    for (const name of ['worker-cpu', 'worker-gpu', 'producer']) {
      const t = await fs.readFile(path.join(ROOT, `deploy/docker/${name}.Dockerfile`), 'utf8');
      if (/npm ci/.test(t)) expect(t).toMatch(/ONNXRUNTIME_NODE_INSTALL=skip/);
    }
  });
});
