/**
 * `overmap audit` end to end on a real run of the bundled model: --sample draws the stratified
 * sample and writes the files a person fills in; --verified measures every confidence on the
 * filled-in labels (checked against figures recomputed here from the records), certifies a
 * threshold, and --spec-out writes a spec the next run can use, beside the model files only; the
 * run's report then shows the audit.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { type ImageRecord, augrc, canonicalClass } from '@overmap/shared';
import { CLASS_FOLDERS, SCENE_SIZE, loadFashionMnist, makeScene } from '@overmap/reference';
import { cliEnv, readParts, runCli } from '../helpers/fleet';
import { testRedis, tmpDir } from '../helpers/services';

const N = 120,
  SAMPLE = 60;
let dir: string, results: string, records: ImageRecord[], env: NodeJS.ProcessEnv;

beforeAll(async () => {
  dir = await tmpDir();
  const bank = loadFashionMnist();
  for (let i = 0; i < N; i++) {
    const s = makeScene(bank, { seed: 'audit-test', split: 'test' }, i);
    await fs.mkdir(path.join(dir, 'scenes', CLASS_FOLDERS[s.label]!), { recursive: true });
    await sharp(Buffer.from(s.image), { raw: { width: SCENE_SIZE, height: SCENE_SIZE, channels: 3 } })
      .png()
      .toFile(path.join(dir, 'scenes', CLASS_FOLDERS[s.label]!, `${i}.png`));
  }
  results = path.join(dir, 'results');
  env = cliEnv((await testRedis()).url, `t${Date.now().toString(36)}au`);
  const r = await runCli(
    ['run', path.join(dir, 'scenes'), '--out', results, '--workers', '1', '--labels', 'folder'],
    env,
  );
  if (r.code !== 0) throw new Error(`overmap run failed (${r.code}): ${r.stderr}`);
  records = (await readParts(results)).records;
}, 240_000);
afterAll(async () => {
  await (await testRedis()).stop();
  await fs.rm(dir, { recursive: true, force: true });
});

describe('overmap audit', () => {
  let sampleKeys: string[];
  it('--sample N writes N distinct keys of the run to verify, as CSV and Label Studio tasks', async () => {
    const r = await runCli(['audit', results, '--sample', String(SAMPLE)], env);
    expect([r.code, r.stderr]).toEqual([0, '']);
    const csv = (await fs.readFile(path.join(results, 'audit/sample.csv'), 'utf8')).trim().split('\n');
    expect(csv[0]).toBe('key,label');
    sampleKeys = csv.slice(1).map((l) => l.replace(/,$/, ''));
    expect(new Set(sampleKeys).size).toBe(SAMPLE);
    const known = new Set(records.map((x) => x.key));
    expect(sampleKeys.every((k) => known.has(k))).toBe(true);
    const tasks = JSON.parse(await fs.readFile(path.join(results, 'audit/label-studio-tasks.json'), 'utf8'));
    expect(tasks.map((t: { data: { key: string } }) => t.data.key)).toEqual(sampleKeys);
    expect(tasks.some((t: object) => 'predictions' in t)).toBe(false); // no pre-annotation to anchor the person
    expect(await fs.readFile(path.join(results, 'audit/label-studio-config.xml'), 'utf8')).toContain('none of these');
  });

  it('--verified measures the confidences on the verified labels and certifies a threshold', async () => {
    // the person confirms the folder labels, except the three least confident (by msp), which they
    // mark as none of the classes
    const byKey = new Map(records.map((x) => [x.key, x]));
    const leastSure = new Set(
      [...sampleKeys].sort((a, b) => byKey.get(a)!.scores.msp! - byKey.get(b)!.scores.msp!).slice(0, 3),
    );
    const verified = sampleKeys.map((k) => [k, leastSure.has(k) ? 'none of these' : byKey.get(k)!.label!] as const);
    await fs.writeFile(path.join(dir, 'verified.csv'), ['key,label', ...verified.map((v) => v.join(','))].join('\n'));
    const r = await runCli(['audit', results, '--verified', path.join(dir, 'verified.csv'), '--alpha', '0.5'], env);
    expect([r.code, r.stderr]).toEqual([0, '']);
    const audit = JSON.parse(await fs.readFile(path.join(results, 'audit/audit.json'), 'utf8'));
    const items = verified.map(([k, label]) => {
      const rec = byKey.get(k)!;
      const correct = canonicalClass(rec.prediction!.class) === canonicalClass(label);
      return { rec, correct };
    });
    expect([audit.scored, audit.notAClass, audit.unknownKeys]).toEqual([SAMPLE, 3, []]);
    expect(audit.accuracy).toBeCloseTo(items.filter((x) => x.correct).length / SAMPLE, 12);
    const msp = audit.scores.find((s: { name: string }) => s.name === 'msp');
    expect(msp.augrc.value).toBeCloseTo(
      augrc(items.map((x) => ({ confidence: x.rec.scores.msp!, correct: x.correct }))),
      12,
    );
    expect(msp.augrc.lo).toBeLessThanOrEqual(msp.augrc.value);
    const rc = audit.chosen.riskControl;
    expect(rc.threshold).not.toBeNull();
    expect(rc.errors / rc.accepted).toBeLessThanOrEqual(0.5);
    expect(r.stdout).toContain(`Decision score chosen`);
    expect(r.stdout).toContain(audit.chosen.score);
  });

  it('--spec-out writes the spec with the chosen threshold beside the model files, and refuses elsewhere', async () => {
    const run = JSON.parse(await fs.readFile(path.join(results, 'run.json'), 'utf8'));
    const modelDir = path.join(dir, 'model');
    await fs.cp(path.dirname(run.model.uri.replace(/^file:\/\//, '')), modelDir, { recursive: true });
    const out = path.join(modelDir, 'audited.json');
    const args = ['audit', results, '--verified', path.join(dir, 'verified.csv'), '--alpha', '0.5'];
    const ok = await runCli([...args, '--spec-out', out], env);
    expect([ok.code, ok.stderr]).toEqual([0, '']);
    const audit = JSON.parse(await fs.readFile(path.join(results, 'audit/audit.json'), 'utf8'));
    const spec = JSON.parse(await fs.readFile(out, 'utf8'));
    expect(spec.threshold).toBe(audit.chosen.riskControl.threshold);
    const elsewhere = await runCli([...args, '--spec-out', path.join(dir, 'nowhere.json')], env);
    expect(elsewhere.code).toBe(2);
    expect(elsewhere.stderr).toMatch(/^overmap: --spec-out .*nowhere\.json: the spec names .* which is not beside it/);
  });

  it("shows in the run's report: the panel, and the audit in the report's data", async () => {
    const r = await runCli(['report', results, '--images', 'none'], env);
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain('audit panel is left out');
    const audit = JSON.parse(await fs.readFile(path.join(results, 'audit/audit.json'), 'utf8'));
    const data = JSON.parse(await fs.readFile(path.join(results, 'report/report-data.json'), 'utf8'));
    expect([data.audit.scored, data.audit.chosen.score]).toEqual([SAMPLE, audit.chosen.score]);
    const html = await fs.readFile(path.join(results, 'report/index.html'), 'utf8');
    expect(html).toContain('Audit on verified labels');
    expect(html).toContain(`Chosen: ${audit.chosen.score}.`);
  });

  it('refuses a verified file with no key of the run, in one line', async () => {
    await fs.writeFile(path.join(dir, 'other.csv'), 'key,label\nnot/a/key.png,Coat\n');
    const r = await runCli(['audit', results, '--verified', path.join(dir, 'other.csv')], env);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('none of the 1 keys');
  });
});
