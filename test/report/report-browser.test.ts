/**
 * The report in a real browser: the demo's scenes through `overmap run` (real Redis, real
 * workers, the bundled model), one image deleted afterwards, then `overmap report`, opened
 * from disk (file://) in Debian's headless Chromium driven by playwright-core (no browser is
 * downloaded: `apt-get install chromium`, which .ci/run does). Checked in the page: no console
 * errors, the first page's images loaded, each queue's card count equals the data's, filter by
 * class, sort by a score, the CSV link's rows, the deleted image's card. The run writes the
 * rejected images' overlays, so the cards show both kinds of maps: the workers' and recomputed.
 * OVERMAP_REPORT_SCREENSHOT=<png> also saves a screenshot there (docs/report-screenshot.png).
 */
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse as parseCsv } from 'csv-parse/sync';
import sharp from 'sharp';
import { type Browser, type Page, chromium } from 'playwright-core';
import type { ReportData } from '@overmap/report';
import { cliEnv, readParts, runCli } from '../helpers/fleet';
import { ROOT, testRedis, tmpDir } from '../helpers/services';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

let dir: string,
  results: string,
  data: ReportData,
  browser: Browser,
  page: Page,
  deleted: string,
  runStdout: string,
  reportStdout: string;
const errors: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`no browser at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
  dir = await tmpDir('overmap-report-browser-');
  const scenes = path.join(dir, 'scenes');
  await fs.cp(path.join(ROOT, 'samples/fashion-scenes'), scenes, { recursive: true });
  results = path.join(dir, 'results');
  // The demo's model (v5 on ONNX Runtime), not the wasm Layers model the other fleet tests run.
  const env = cliEnv((await testRedis()).url, `t${Date.now().toString(36)}rep`, { OVERMAP_BACKEND: 'onnx' });
  // --overlays rejected: the rejected cards take the workers' overlays, the others' maps are recomputed
  const run = await runCli(
    ['run', scenes, '--out', results, '--labels', 'folder', '--workers', '2', '--overlays', 'rejected'],
    env,
  );
  if (run.code !== 0) throw new Error(`overmap run failed (${run.code}): ${run.stderr}`);
  runStdout = run.stdout;
  // An image deleted after the run: its card must say so, and the report must still build.
  const { records } = await readParts(results);
  deleted = records.filter((r) => r.accepted === false).sort((a, b) => (a.key < b.key ? -1 : 1))[0]!.key;
  await fs.rm(path.join(scenes, deleted));
  const rep = await runCli(['report', results], env);
  if (rep.code !== 0) throw new Error(`overmap report failed (${rep.code}): ${rep.stderr}`);
  reportStdout = rep.stdout;
  data = JSON.parse(await fs.readFile(path.join(results, 'report', 'report-data.json'), 'utf8')) as ReportData;

  browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(pathToFileURL(path.join(results, 'report', 'index.html')).toString());
  await page.waitForSelector('#queues .card');
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await (await testRedis()).stop();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

async function openQueue(id: string): Promise<void> {
  await page.click(`nav.tabs button[data-queue="${id}"]`);
  await page.waitForSelector(`section.queue[data-queue="${id}"]`);
}

const cardAttrs = (attr: string) =>
  page.$$eval('#queues .card', (els, a) => els.map((e) => e.getAttribute(a) ?? ''), attr);

describe('the report in Chromium', () => {
  it('overmap run says where the report goes; overmap report prints where it is', () => {
    expect(runStdout).toContain(`overmap report ${results}`);
    expect(reportStdout).toContain(`report: ${pathToFileURL(path.join(results, 'report', 'index.html'))}`);
    expect(data.queues.map((q) => q.id)).toEqual([
      'label_errors',
      'off_object',
      'rejected',
      'unreadable',
      'bad_images',
      'duplicates',
    ]);
    expect(data.maps).toEqual({ source: 'mixed', note: null });
  });

  it("loads every image of each queue's first page", async () => {
    for (const q of data.queues) {
      await openQueue(q.id);
      await page.waitForFunction("[...document.querySelectorAll('#queues .card img')].every((e) => e.complete)");
      const loaded = await page.$$eval('#queues .card img', (els) =>
        els.map((e) => ({ src: e.getAttribute('src'), w: (e as unknown as { naturalWidth: number }).naturalWidth })),
      );
      expect(loaded.filter((x) => x.w === 0)).toEqual([]);
      // every picture the data names for the first page's cards (image, Grad-CAM, attention, mask)
      const named = q.cards
        .slice(0, data.pageSize)
        .flatMap((c) => [c.img.thumb, c.img.gradcam, c.img.attention, c.img.mask].filter(Boolean));
      expect(loaded.map((x) => x.src)).toEqual(named);
      if (q.cards.length) expect(named.length).toBeGreaterThanOrEqual(3 * Math.min(q.cards.length, data.pageSize));
    }
  });

  it('shows, in each queue, as many cards as the data lists, across its pages', async () => {
    for (const q of data.queues) {
      await openQueue(q.id);
      expect(await page.getAttribute('#listed-count', 'data-listed')).toBe(String(q.cards.length));
      expect(await page.textContent(`nav.tabs button[data-queue="${q.id}"] .n`)).toBe(
        `(${q.total.toLocaleString('en-US')})`,
      );
      const keys: string[] = [];
      for (;;) {
        keys.push(...(await cardAttrs('data-key')));
        if (await page.isDisabled('#next')) break;
        await page.click('#next');
      }
      expect(keys).toEqual(q.cards.map((c) => c.key));
    }
  });

  it('filtering by one predicted class leaves only that class', async () => {
    const q = data.queues.find((x) => x.id === 'label_errors')!;
    const counts = new Map<string, number>();
    for (const c of q.cards) counts.set(c.pred!, (counts.get(c.pred!) ?? 0) + 1);
    const [cls, n] = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]!;
    await openQueue(q.id);
    await page.selectOption('#f-pred', cls);
    const preds = await cardAttrs('data-pred');
    expect(preds.length).toBe(Math.min(n, data.pageSize));
    expect(new Set(preds)).toEqual(new Set([cls]));
    expect(await page.textContent('#match-count')).toBe(`${n} match`);
  });

  it('sorting by a score orders the cards by it', async () => {
    const q = data.queues.find((x) => x.id === 'rejected')!;
    await openQueue(q.id);
    for (const [dir, cmp] of [
      ['desc', (a: number, b: number) => b - a],
      ['asc', (a: number, b: number) => a - b],
    ] as const) {
      await page.selectOption('#f-sort', 'msp');
      await page.selectOption('#f-dir', dir);
      const shown = (await cardAttrs('data-sort-value')).map(Number);
      const expected = q.cards
        .map((c) => c.scores.msp!)
        .sort(cmp)
        .slice(0, data.pageSize);
      expect(shown).toEqual(expected);
    }
  });

  it("the CSV link's rows are the queue's keys", async () => {
    for (const q of data.queues) {
      await openQueue(q.id);
      const href = await page.getAttribute('a.export-csv', 'href');
      const file = path.join(results, 'report', href!);
      const rows = parseCsv(await fs.readFile(file), { columns: true }) as { key: string }[];
      expect(rows.map((r) => r.key)).toEqual(q.cards.map((c) => c.key));
    }
  });

  it("the deleted image's card says so", async () => {
    await openQueue('rejected');
    await page.selectOption('#f-sort', 'key');
    await page.selectOption('#f-dir', 'asc');
    const card = page.locator(`#queues .card[data-key="${deleted}"]`);
    expect(await card.textContent()).toContain('deleted or moved since the run');
  });

  it('logs no console errors', async () => {
    await openQueue(data.queues[0]!.id);
    if (process.env.OVERMAP_REPORT_SCREENSHOT) {
      // The top of the page and the first cards, as a small palette PNG for the README.
      const png = await page.screenshot({ clip: { x: 0, y: 0, width: 1400, height: 2050 }, fullPage: true });
      await sharp(png)
        .resize(1120)
        .png({ palette: true, quality: 90, effort: 10 })
        .toFile(process.env.OVERMAP_REPORT_SCREENSHOT);
    }
    expect(errors).toEqual([]);
  });
});
