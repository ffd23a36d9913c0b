/**
 * `overmap evaluate <results-uri>`: reads a run's records and, where labels are known,
 * reports every confidence (Over-MAP, its components, the baselines, random, and a fusion
 * whose weight is chosen on a validation run given with --val) as risk-coverage tables;
 * with --ood, a run over unknown objects, how well each confidence tells them apart from
 * <results-uri>'s images; optionally a plot (PNG) and the tables as JSON.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { InputError } from '@overmap/shared';
import { type ConfidenceReport, type OodReport, chooseFusionWeight, evaluateRecords, outOfDistributionReport, readRecords, scorable } from '@overmap/evaluation';
import { renderPlot } from './plot-svg';

const pct = (v: number) => (Number.isFinite(v) ? `${(v * 100).toFixed(1)}` : '–');
const pts = (v: number) => (Number.isFinite(v) ? `${v >= 0 ? '+' : ''}${(v * 100).toFixed(1)}` : '–');

export function markdownTables(reports: ConfidenceReport[], n: number, excluded: number): string {
  const lines = [`${n} labelled, scorable images (${excluded} other records excluded).`, '',
    '| confidence | AURC ↓ | E-AURC ↓ | AUROC ↑ | Top-1 macro acc. (all) | Top-3 macro acc. (all) | Top-3 macro gain at 12% / 15% / 18% rejected | Top-1 macro gain at 12% / 15% / 18% |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |'];
  for (const r of reports) {
    const g3 = ['12%', '15%', '18%'].map((k) => pts(r.gainTop3Macro[k]!)).join(' / ');
    const g1 = ['12%', '15%', '18%'].map((k) => pts(r.gainTop1Macro[k]!)).join(' / ');
    lines.push(`| ${r.name} | ${(r.aurc * 1000).toFixed(1)}‰ | ${(r.eAurc * 1000).toFixed(1)}‰ | ${r.auroc.toFixed(3)} | ${pct(r.table[0]!.macroAccuracy!)} | ${pct(r.table[0]!.macroTop3Accuracy!)} | ${g3} | ${g1} |`);
  }
  lines.push('', 'Top-1 macro accuracy (%) after rejecting the least confident fraction:', '',
    `| confidence | ${reports[0]!.table.map((t) => `${Math.round(t.rejected * 100)}%`).join(' | ')} |`,
    `| --- | ${reports[0]!.table.map(() => '---').join(' | ')} |`);
  for (const r of reports) lines.push(`| ${r.name} | ${r.table.map((t) => pct(t.macroAccuracy!)).join(' | ')} |`);
  return `${lines.join('\n')}\n`;
}

export function markdownOodTable(r: OodReport): string {
  const lines = [`${r.nIn} images of the evaluated run against ${r.nOut} unknown-object images (every record with a prediction).`, '',
    '| confidence | AUROC known vs unknown ↑ | unknown kept at 95% of known kept (FPR@95TPR) ↓ |', '| --- | --- | --- |',
    ...r.rows.map((x) => `| ${x.name} | ${x.auroc.toFixed(3)} | ${pct(x.fprAt95Tpr)}% |`), '',
    `At the run's Over-MAP threshold: ${pct(r.accepted.in)}% of the known images accepted, ${pct(r.accepted.out)}% of the unknown ones.`];
  return `${lines.join('\n')}\n`;
}

/** An output file's folder must exist: said before any work, in one line. */
async function checkOutputPath(file: string | undefined, option: string): Promise<void> {
  if (!file) return;
  const dir = path.dirname(path.resolve(file));
  const st = await fs.stat(dir).catch(() => null);
  if (!st?.isDirectory()) throw new InputError(`${option} ${file}: folder ${dir} does not exist; create it or write elsewhere`);
}

export async function evaluateCommand(resultsUri: string, f: { val?: string; ood?: string; plot?: string; json?: string }): Promise<string> {
  await checkOutputPath(f.json, '--json');
  await checkOutputPath(f.plot, '--plot');
  const { records, classes } = await readRecords(resultsUri);
  const test = scorable(records, classes);
  if (test.length === 0) throw new InputError(`no labelled, scorable records under ${resultsUri}: evaluate needs a run with --labels`);
  let fusionWeight: number | undefined;
  let header = '';
  if (f.val) {
    const v = await readRecords(f.val);
    const choice = chooseFusionWeight(scorable(v.records, v.classes));
    fusionWeight = choice.weight;
    header = `Fusion weight chosen on the validation run ${path.relative(process.cwd(), f.val) || f.val}: ${choice.weight} (validation AURC ${(choice.aurc * 1000).toFixed(1)}‰).\n\n`;
  }
  const reports = evaluateRecords(test, { fusionWeight });
  const ood = f.ood ? outOfDistributionReport(records, (await readRecords(f.ood)).records, { fusionWeight }) : undefined;
  if (ood && ood.nOut === 0) throw new InputError(`no scored records under ${f.ood}: --ood needs a finished run over unknown-object images`);
  if (f.json) await fs.writeFile(f.json, JSON.stringify({ n: test.length, fusionWeight, reports, ood }, null, 2));
  if (f.plot) {
    const series = (key: 'macroAccuracy' | 'macroTop3Accuracy') => reports.map((r) => ({ name: r.name, points: r.table.map((t) => ({ x: t.rejected, y: t[key]! })) }));
    await renderPlot(f.plot, series('macroAccuracy'), series('macroTop3Accuracy'));
  }
  const oodSection = ood ? `\n### Unknown objects (${path.relative(process.cwd(), f.ood!) || f.ood})\n\n${markdownOodTable(ood)}` : '';
  return header + markdownTables(reports, test.length, records.length - test.length) + oodSection;
}
