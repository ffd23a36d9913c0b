#!/usr/bin/env node
/**
 * npm run bench:photos -- <photo-folder> [--count N] [--spec models/reference-v4/overmap-model.json]
 *
 * One run, on the realistic set (npm run make:photos), everything on this machine's cores:
 *  - whole `overmap run --labels folder` (ONNX Runtime): 1 worker with its thread pools sized
 *    for one core (ORT 1 thread, UV_THREADPOOL_SIZE 1), 1 worker with the run's defaults for
 *    all cores, 2 workers (one core each) and 2 workers with libuv's default 4 threads: wall
 *    time from the command's start to its exit (enqueue, start-up and finalize included), CPU
 *    time of the whole tree (/usr/bin/time), and
 *    each worker process's peak RSS (/proc, VmHWM);
 *    The same runs on 8 photos give the fixed seconds of a run, hence the marginal rates;
 *  - the PyTorch peer (scripts/peer-pytorch.py, DataLoader with 2 worker processes, torch's
 *    default threads), as users write it and with PIL's JPEG draft mode (DCT scaling);
 *  - the limits, in 2 processes of 1 ORT thread each on half the images: the raw ONNX Runtime
 *    forward of the spec's two models on ready input tensors, and decode (the engine's
 *    decodeImage) + the same forward, with nothing else;
 *  - peak RSS of one worker on 12-megapixel photos only (the set's 4000×3000 files, up to 128);
 *  - how far the peer's scores are from the fleet's when each decodes the photos its own way.
 * Redis: run through scripts/with-redis.js (the npm script does). JSON on stdout, progress on stderr.
 */
'use strict';
const { fork, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { listImages, fleetRecords } = require('./check-peer');
const { pythonWithTorch } = require('./lib/python-torch');
const { watchTree } = require('./lib/proc-watch');

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'packages/cli/bin/overmap.js');
const log = (s) => process.stderr.write(`${s}\n`);

/** The first `keys` of `src` hard-linked (or copied) under `dst`, class folders kept. */
function subset(src, keys, dst) {
  for (const k of keys) {
    const to = path.join(dst, k);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    try {
      fs.linkSync(path.join(src, k), to);
    } catch {
      fs.copyFileSync(path.join(src, k), to);
    }
  }
  return dst;
}

/** Runs a command under /usr/bin/time; wall seconds, CPU seconds of the tree, each process's peak RSS. */
function timed(cmd, args, env = {}) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const c = spawn('/usr/bin/time', ['-f', 'TIME %e %U %S', cmd, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const watch = watchTree(c.pid);
    let out = '',
      err = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (err += d));
    c.on('exit', (code) => {
      const procs = watch.stop();
      const wall = (performance.now() - t0) / 1000;
      const t = /TIME ([\d.]+) ([\d.]+) ([\d.]+)/.exec(err);
      if (code !== 0 || !t) return reject(new Error(`${cmd} ${args.join(' ')} exited ${code}:\n${err.slice(-1500)}`));
      // /usr/bin/time counts the children the tree waited for; a worker that outlives its
      // supervisor's exit is not among them, so the /proc samples (each process's last) bound it too.
      const sampled = procs.filter((p) => p.pid !== c.pid).reduce((a, p) => a + p.cpuSeconds, 0);
      resolve({ wall, cpuSeconds: Math.max(Number(t[2]) + Number(t[3]), sampled), procs, stdout: out });
    });
  });
}

async function fleetRun({ dir, spec, images }, out, workers, env) {
  const args = [CLI, 'run', dir, '--labels', 'folder', '--model', spec, '--out', out, '--workers', `${workers}`];
  const r = await timed(process.execPath, args, env);
  const w = r.procs.filter((p) => / worker /.test(p.cmd));
  return {
    workers,
    env,
    wallSeconds: r.wall,
    imagesPerSecond: images / r.wall,
    cpuMsPerImage: (r.cpuSeconds * 1000) / images,
    load1: os.loadavg()[0],
    workerPeakRssMiB: w.map((p) => Math.round(p.peakRssMiB)),
  };
}

/** Child: the raw forward (or decode + forward) of its share of the images, one ORT thread. */
async function child(task) {
  const W = require('@overmap/engine');
  const ort = require('onnxruntime-node');
  const spec = JSON.parse(fs.readFileSync(task.spec, 'utf8'));
  const dir = path.dirname(task.spec);
  const [h, w] = spec.classifier.inputSize;
  const opts = {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  };
  const clf = await ort.InferenceSession.create(path.join(dir, spec.classifier.model), opts);
  const seg = await ort.InferenceSession.create(path.join(dir, spec.segmenter.model), opts);
  const scale = spec.classifier.normalization?.scale ?? 1 / 255;
  const forward = async (x, n) => {
    const t = new ort.Tensor('float32', x, [n, 3, h, w]);
    await clf.run({ [clf.inputNames[0]]: t }, [
      spec.gradcamLayer,
      ...spec.attentionLayers,
      spec.classifier.logitsOutput,
    ]);
    await seg.run({ [seg.inputNames[0]]: t });
  };
  const batch = 64;
  await forward(new Float32Array(batch * 3 * h * w), batch);
  process.send({ ready: true });
  await new Promise((r) => process.once('message', r));
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const o = { size: [h, w], maxInputPixels: 100e6, maxBytes: 256 * 2 ** 20 };
  for (let i = 0; i < task.keys.length; i += batch) {
    const keys = task.keys.slice(i, i + batch);
    const x = new Float32Array(keys.length * 3 * h * w);
    if (task.decode)
      for (const [j, k] of keys.entries()) {
        const d = await W.decodeImage(fs.readFileSync(path.join(task.dir, k)), o);
        if (!d.ok) throw new Error(`${k}: ${d.error}`);
        for (let p = 0; p < h * w; p++)
          for (let ch = 0; ch < 3; ch++) x[(j * 3 + ch) * h * w + p] = d.rgb[p * 3 + ch] * scale;
      }
    await forward(x, keys.length);
  }
  const c = process.cpuUsage(c0);
  process.send({ seconds: (performance.now() - t0) / 1000, cpuSeconds: (c.user + c.system) / 1e6 });
  process.exit(0);
}

async function limit(dir, keys, spec, decode) {
  const halves = [keys.filter((_, i) => i % 2 === 0), keys.filter((_, i) => i % 2 === 1)];
  const kids = halves.map((part) =>
    fork(__filename, ['--child', JSON.stringify({ dir, keys: part, spec, decode })], {
      execArgv: ['--single-threaded-gc'],
      env: { ...process.env, UV_THREADPOOL_SIZE: '1' },
    }),
  );
  const next = (k) =>
    new Promise((res, rej) => (k.once('message', res), k.once('exit', (c) => c && rej(new Error(`child ${c}`)))));
  await Promise.all(kids.map(next));
  const done = kids.map(next);
  kids.forEach((k) => k.send('go'));
  const r = await Promise.all(done);
  const wall = Math.max(...r.map((x) => x.seconds));
  const cpu = r.reduce((a, x) => a + x.cpuSeconds, 0);
  const cpuMsPerImage = (cpu * 1000) / keys.length;
  return { imagesPerSecond: keys.length / wall, cpuMsPerImage, load1: os.loadavg()[0], processes: 2 };
}

async function peerRun(py, { dir, spec, images }, out, extra = []) {
  const r = await timed(py, ['scripts/peer-pytorch.py', dir, '--spec', spec, '--workers', '2', '--out', out, ...extra]);
  const own = JSON.parse(r.stdout.trim().split('\n').pop());
  return {
    options: extra.join(' ') || '(as users write it)',
    wallSeconds: r.wall,
    imagesPerSecond: images / r.wall,
    scoringImagesPerSecond: own.imagesPerSecond,
    cpuMsPerImage: (r.cpuSeconds * 1000) / images,
    load1: os.loadavg()[0],
    torchThreads: own.torchThreads,
    peakRssMiB: Math.round(Math.max(...r.procs.map((p) => p.peakRssMiB))),
  };
}

/** Peer (own decode) against fleet (own decode): score differences on the photos. */
function ownDecodeAgreement(fleet, jsonl) {
  const peer = fs.readFileSync(jsonl, 'utf8').split('\n').filter(Boolean).map(JSON.parse);
  const d = { images: peer.length, samePrediction: 0 };
  for (const s of ['msp', 'overmap', 'confidence']) {
    const diffs = peer.map((p) => Math.abs(fleet.get(p.key).scores[s] - p[s])).sort((a, b) => a - b);
    d[s] = { median: diffs[diffs.length >> 1], p95: diffs[Math.floor(diffs.length * 0.95)], max: diffs.at(-1) };
  }
  d.samePrediction = peer.filter((p) => fleet.get(p.key).prediction.index === p.pred).length / peer.length;
  return d;
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      count: { type: 'string', default: '0' },
      spec: { type: 'string', default: path.join(ROOT, 'models/reference-v4/overmap-model.json') },
    },
  });
  if (positionals.length !== 1) throw new Error('usage: npm run bench:photos -- <photo-folder> [--count N] [--spec S]');
  const count = Number(values.count);
  if (!Number.isInteger(count) || count < 0) throw new Error(`--count ${values.count}: use a whole number (0: all)`);
  const py = pythonWithTorch();
  if (!py) throw new Error('no Python with torch and torchvision: apt-get install python3-torch python3-torchvision');
  if (!fs.existsSync('/usr/bin/time')) throw new Error('/usr/bin/time is missing: apt-get install time');
  const spec = path.resolve(values.spec);
  const all = listImages(positionals[0]);
  const keys = count ? all.slice(0, count) : all;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-photos-'));
  try {
    const dir = subset(positionals[0], keys, path.join(tmp, 'set'));
    const set = { dir, spec, images: keys.length };
    const big = keys.filter((k) => /_4000x3000_/.test(k)).slice(0, 128);
    const r = { machine: { cores: os.availableParallelism(), load: os.loadavg() }, images: keys.length };
    log(`${keys.length} photos; 12 MP: ${big.length}`);
    const one = { OVERMAP_ONNX_THREADS: '1', UV_THREADPOOL_SIZE: '1' };
    // The fixed part of a run (enqueue, start-up, finalize): the same command on 8 photos.
    const tiny = { dir: subset(dir, keys.slice(0, 8), path.join(tmp, 'tiny')), spec, images: 8 };
    r.fleetFixed = { workers1: await fleetRun(tiny, path.join(tmp, 't1'), 1, one) };
    r.fleetFixed.workers2 = await fleetRun(tiny, path.join(tmp, 't2'), 2, {});
    log(`fixed (8 photos): ${r.fleetFixed.workers1.wallSeconds} s, ${r.fleetFixed.workers2.wallSeconds} s`);
    r.fleet1OneCore = await fleetRun(set, path.join(tmp, 'f1'), 1, one);
    log(`fleet, 1 worker, pools for one core: ${JSON.stringify(r.fleet1OneCore)}`);
    r.fleet2 = await fleetRun(set, path.join(tmp, 'f2'), 2, {});
    log(`fleet, 2 workers: ${JSON.stringify(r.fleet2)}`);
    r.fleet2Uv4 = await fleetRun(set, path.join(tmp, 'f2u'), 2, { UV_THREADPOOL_SIZE: '4' });
    log(`fleet, 2 workers, libuv's default 4 threads each: ${JSON.stringify(r.fleet2Uv4)}`);
    r.fleet1AllCores = await fleetRun(set, path.join(tmp, 'f1d'), 1, {});
    log(`fleet, 1 worker, default pools: ${JSON.stringify(r.fleet1AllCores)}`);
    r.peer = await peerRun(py, set, path.join(tmp, 'peer.jsonl'));
    log(`peer: ${JSON.stringify(r.peer)}`);
    r.peerDraft = await peerRun(py, set, path.join(tmp, 'peer-draft.jsonl'), ['--draft']);
    log(`peer --draft: ${JSON.stringify(r.peerDraft)}`);
    r.rawForward = await limit(dir, keys, spec, false);
    log(`raw forward: ${JSON.stringify(r.rawForward)}`);
    r.decodeAndForward = await limit(dir, keys, spec, true);
    log(`decode + forward: ${JSON.stringify(r.decodeAndForward)}`);
    if (big.length) {
      const bigSet = { dir: subset(dir, big, path.join(tmp, 'big')), spec, images: big.length };
      r.fleet12mp = await fleetRun(bigSet, path.join(tmp, 'f12'), 1, {});
      log(`12 MP only, 1 worker: ${JSON.stringify(r.fleet12mp)}`);
    }
    const fleet = fleetRecords(path.join(tmp, 'f2'));
    r.peerVsFleetOwnDecode = ownDecodeAgreement(fleet, path.join(tmp, 'peer.jsonl'));
    // Wall-clock ratios, and the same per CPU-second (whole tree's CPU time): the second holds up
    // when other jobs load the machine, the first does not.
    const ratios = (f) => ({
      twoWorkersOverOneCore: f(r.fleet2) / f(r.fleet1OneCore),
      twoWorkersOverTwoWithUv4: f(r.fleet2) / f(r.fleet2Uv4),
      twoWorkersOverOneWorkerAllCores: f(r.fleet2) / f(r.fleet1AllCores),
      fleetOverPeer: f(r.fleet2) / f(r.peer),
      fleetOverPeerDraft: f(r.fleet2) / f(r.peerDraft),
      fleetOverRawForward: f(r.fleet2) / f(r.rawForward),
      fleetOverDecodeAndForward: f(r.fleet2) / f(r.decodeAndForward),
    });
    r.ratios = ratios((x) => x.imagesPerSecond);
    // Marginal rates: the images beyond the 8 over the seconds beyond the 8-photo run's.
    const marginal = (x, fixed) => (keys.length - 8) / (x.wallSeconds - fixed.wallSeconds);
    r.marginal = {
      oneCore: marginal(r.fleet1OneCore, r.fleetFixed.workers1),
      twoWorkers: marginal(r.fleet2, r.fleetFixed.workers2),
    };
    r.marginal.twoOverOne = r.marginal.twoWorkers / r.marginal.oneCore;
    r.ratiosPerCpuSecond = ratios((x) => 1 / x.cpuMsPerImage);
    process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') child(JSON.parse(process.argv[3]));
else
  main().catch((e) => {
    process.stderr.write(`bench-photos: ${e.message}\n`);
    process.exit(2);
  });
