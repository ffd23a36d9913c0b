/** Model specs from every store: a file, and an HTTP(S) server (read-only), hashing the same bytes. */
import { promises as fs } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { ModelSpecError } from '@overmap/shared';
import { OverMapScorer, initBackend, loadSpec } from '@overmap/engine';
import { makeDevModel } from '../helpers/models';
import { tmpDir } from '../helpers/services';

let dir: string, specFile: string, server: http.Server, base: string;
const served: string[] = [];

beforeAll(async () => {
  await initBackend('wasm');
  dir = await tmpDir();
  specFile = await makeDevModel(path.join(dir, 'model'), { segmenter: 'saliency' });
  server = http.createServer((req, res) => {
    const p = path.join(dir, 'model', decodeURIComponent(new URL(req.url!, 'http://x').pathname));
    served.push(req.url!);
    fs.readFile(p).then(
      (b) => res.end(b),
      () => {
        res.statusCode = 404;
        res.end();
      },
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  await fs.rm(dir, { recursive: true, force: true });
});

describe('loadSpec over HTTP', () => {
  it('hashes the same bytes as from disk, and the scorer loads from the prefetched bytes', async () => {
    const local = await loadSpec(specFile);
    served.length = 0;
    const remote = await loadSpec(`${base}spec.json`);
    expect(remote.hash).toBe(local.hash);
    const fetched = served.length;
    expect(served).toEqual(expect.arrayContaining(['/spec.json', '/classifier/model.json', '/classifier/weights.bin']));
    const scorer = await OverMapScorer.load(remote);
    try {
      expect(served.length).toBe(fetched); // weights were not read twice
      expect(await scorer.scoreBatch([{ rgb: new Uint8Array(64 * 64 * 3).fill(7) }])).toHaveLength(1);
    } finally {
      scorer.dispose();
    }
  });

  it('names the missing file, and refuses writes', async () => {
    await expect(loadSpec(`${base}nope.json`)).rejects.toThrow(ModelSpecError);
    const remote = await loadSpec(`${base}spec.json`);
    await expect(remote.store.put('x', 'y')).rejects.toThrow(/read-only/);
  });

  it("refuses a spec file naming a file outside the spec's location, and plain http off this machine", async () => {
    const spec = JSON.parse(await fs.readFile(specFile, 'utf8'));
    for (const [name, model] of [
      ['up.json', '../secret/model.json'],
      ['abs.json', 'http://169.254.169.254/latest/meta-data/'],
      ['host.json', '//169.254.169.254/latest/'],
    ] as const) {
      // the spec one folder down: "../" would leave it
      await fs.mkdir(path.join(dir, 'model', 'nested'), { recursive: true });
      const json = JSON.stringify({ ...spec, classifier: { ...spec.classifier, model } });
      await fs.writeFile(path.join(dir, 'model', 'nested', name), json);
      served.length = 0;
      await expect(loadSpec(`${base}nested/${name}`)).rejects.toThrow(/which is not under the spec's location/);
      expect(served).toEqual([`/nested/${name}`]); // only the spec was fetched
    }
    await expect(loadSpec('http://models.example.com/spec.json')).rejects.toThrow(/plain http can be altered/);
  });
});
