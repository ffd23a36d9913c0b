/**
 * `overmap evaluate <results-uri>`: reads a run's records and, where labels are known,
 * reports every confidence (Over-MAP, its components, the baselines, random, and a fusion
 * whose weight is chosen on a validation run given with --val) as risk-coverage tables;
 * with --ood, a run over unknown objects, how well each confidence tells them apart from
 * <results-uri>'s images (--ood may be given once per kind of unknown); with --shifted, a
 * labelled run over shifted images of the known classes; then the evaluation by failure type
 * (in-distribution errors, shifted errors, each kind of unknown object): AURC, E-AURC, AUGRC,
 * AUROC, FPR@95TPR and the macro gains at 12/15/18% rejected, for every confidence; optionally a
 * plot (PNG) and the tables as JSON. `scores.confidence` is the decision score (`accepted`); the
 * run's model spec says how it is built, and the output says so.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { InputError } from '@overmap/shared';
import {
  CONFIDENCES,
  type ConfidenceName,
  type ConfidenceReport,
  type Coverage,
  type FailureTypeReport,
  type OodReport,
  chooseFusionWeight,
  errorPool,
  evaluateRecords,
  failureTypeReport,
  outOfDistributionReport,
  partialNote,
  readRecords,
  scorable,
  unknownPool,
} from '@overmap/evaluation';
import { RunResults } from '@overmap/shared';
import { type ModelSpec, readSpec } from '@overmap/engine';
import { renderPlot } from './plot-svg';

const pct = (v: number) => (Number.isFinite(v) ? `${(v * 100).toFixed(1)}` : '–');
const pts = (v: number) => (Number.isFinite(v) ? `${v >= 0 ? '+' : ''}${(v * 100).toFixed(1)}` : '–');

export function markdownTables(reports: ConfidenceReport[], n: number, excluded: number): string {
  const lines = [
    `${n} labelled, scorable images (${excluded} other records excluded).`,
    '',
    '| confidence | AURC ↓ | E-AURC ↓ | AUROC ↑ | Top-1 macro acc. (all) | Top-3 macro acc. (all) | Top-3 macro gain at 12% / 15% / 18% rejected | Top-1 macro gain at 12% / 15% / 18% |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of reports) {
    const g3 = ['12%', '15%', '18%'].map((k) => pts(r.gainTop3Macro[k]!)).join(' / ');
    const g1 = ['12%', '15%', '18%'].map((k) => pts(r.gainTop1Macro[k]!)).join(' / ');
    lines.push(
      `| ${r.name} | ${(r.aurc * 1000).toFixed(1)}‰ | ${(r.eAurc * 1000).toFixed(1)}‰ | ${r.auroc.toFixed(3)} | ${pct(r.table[0]!.macroAccuracy!)} | ${pct(r.table[0]!.macroTop3Accuracy!)} | ${g3} | ${g1} |`,
    );
  }
  lines.push(
    '',
    'Top-1 macro accuracy (%) after rejecting the least confident fraction:',
    '',
    `| confidence | ${reports[0]!.table.map((t) => `${Math.round(t.rejected * 100)}%`).join(' | ')} |`,
    `| --- | ${reports[0]!.table.map(() => '---').join(' | ')} |`,
  );
  for (const r of reports) lines.push(`| ${r.name} | ${r.table.map((t) => pct(t.macroAccuracy!)).join(' | ')} |`);
  return `${lines.join('\n')}\n`;
}

export function markdownOodTable(r: OodReport): string {
  const lines = [
    `${r.nIn} images of the evaluated run against ${r.nOut} unknown-object images (every record with a prediction).`,
    '',
    '| confidence | AUROC known vs unknown ↑ | unknown kept at 95% of known kept (FPR@95TPR) ↓ |',
    '| --- | --- | --- |',
    ...r.rows.map((x) => `| ${x.name} | ${x.auroc.toFixed(3)} | ${pct(x.fprAt95Tpr)}% |`),
    '',
    `At the run's threshold on scores.confidence: ${pct(r.accepted.in)}% of the known images accepted, ${pct(r.accepted.out)}% of the unknown ones.`,
  ];
  return `${lines.join('\n')}\n`;
}

const gains = (g: Record<string, number> | undefined) =>
  g ? ['12%', '15%', '18%'].map((k) => pts(g[k]!)).join(' / ') : '–';

/** One table per failure type: every confidence's AURC, E-AURC, AUGRC, AUROC, FPR@95TPR and macro gains. */
export function markdownFailureTypes(reports: FailureTypeReport[]): string {
  const out: string[] = [];
  for (const r of reports) {
    out.push(
      `#### ${r.type}: ${r.description} (${r.n} images, ${r.failures} failures)`,
      '',
      '| confidence | AURC ↓ | E-AURC ↓ | AUGRC ↓ | AUROC ↑ | FPR@95TPR ↓ | Top-1 macro gain at 12 / 15 / 18% | Top-3 macro gain at 12 / 15 / 18% |',
      '| --- | --- | --- | --- | --- | --- | --- | --- |',
      ...r.rows.map(
        (x) =>
          `| ${x.name} | ${(x.aurc * 1000).toFixed(1)}‰ | ${(x.eAurc * 1000).toFixed(1)}‰ | ${(x.augrc * 1000).toFixed(1)}‰ | ${x.auroc.toFixed(3)} | ${pct(x.fprAt95Tpr)}% | ${gains(x.gainTop1Macro)} | ${gains(x.gainTop3Macro)} |`,
      ),
      '',
    );
  }
  return out.join('\n');
}

/** The spec of the run's model (what it decides with, what it can score); null if it cannot be read. */
async function runSpec(resultsUri: string): Promise<ModelSpec | null> {
  try {
    const run = await RunResults.open(resultsUri).requireRun();
    return (await readSpec(run.model.uri)).spec;
  } catch {
    return null;
  }
}

/** What decides `accepted` in a run: its spec's decision rule, in words. */
export function decisionOf(spec: ModelSpec): string {
  const d = spec.decision;
  const rule =
    d.rule === 'overmap'
      ? "scores.overmap (the paper's Over-MAP)"
      : d.rule === 'softmax'
        ? `scores.${d.primary} alone`
        : `SIRC: ${d.primary} ^ (1 + exp(−${d.b}·(${d.secondary} − ${d.a})))`;
  return `Decision score \`scores.confidence\` (what \`accepted\` compares with the threshold ${spec.threshold}): ${rule}.`;
}

/** Scores the run's model cannot produce: the attention terms of a model with no attention output. */
const unavailableScores = (spec: ModelSpec | null): ConfidenceName[] =>
  spec && spec.attentionLayers.length === 0 ? ['attention_seg', 'gradcam_attention'] : [];

/** An output file's folder must exist: said before any work, in one line. */
async function checkOutputPath(file: string | undefined, option: string): Promise<void> {
  if (!file) return;
  const dir = path.dirname(path.resolve(file));
  const st = await fs.stat(dir).catch(() => null);
  if (!st?.isDirectory())
    throw new InputError(`${option} ${file}: folder ${dir} does not exist; create it or write elsewhere`);
}

/** The accuracy-vs-rejection plot (Top-1 and Top-3 macro) of every confidence, as a PNG. */
async function writePlot(file: string, reports: ConfidenceReport[]): Promise<void> {
  const series = (key: 'macroAccuracy' | 'macroTop3Accuracy') =>
    reports.map((r) => ({ name: r.name, points: r.table.map((t) => ({ x: t.rejected, y: t[key]! })) }));
  await renderPlot(file, series('macroAccuracy'), series('macroTop3Accuracy'));
}

/** Reads each run once, keeping what it covers for the PARTIAL lines (--partial). */
function recordReader(partial: boolean | undefined) {
  const coverages = new Map<string, Coverage>();
  const read = async (uri: string) => {
    const r = await readRecords(uri, { partial });
    coverages.set(uri, r.coverage);
    return r;
  };
  return { read, coverages };
}

export async function evaluateCommand(
  resultsUri: string,
  f: { val?: string; ood?: string | string[]; shifted?: string; plot?: string; json?: string; partial?: boolean },
): Promise<string> {
  await checkOutputPath(f.json, '--json');
  await checkOutputPath(f.plot, '--plot');
  const { read, coverages } = recordReader(f.partial);
  const { records, classes } = await read(resultsUri);
  const spec = await runSpec(resultsUri);
  const omit = unavailableScores(spec);
  const names = CONFIDENCES.filter((n) => !omit.includes(n));
  const test = scorable(records, classes);
  if (test.length === 0)
    throw new InputError(`no labelled, scorable records under ${resultsUri}: evaluate needs a run with --labels`);
  let fusionWeight: number | undefined;
  let header = '';
  if (f.val) {
    const v = await read(f.val);
    const choice = chooseFusionWeight(scorable(v.records, v.classes));
    fusionWeight = choice.weight;
    header = `Fusion weight chosen on the validation run ${path.relative(process.cwd(), f.val) || f.val}: ${choice.weight} (validation AURC ${(choice.aurc * 1000).toFixed(1)}‰).\n\n`;
  }
  const reports = evaluateRecords(test, { fusionWeight, omit });
  const oodUris = f.ood === undefined ? [] : Array.isArray(f.ood) ? f.ood : [f.ood];
  const rel = (u: string) => path.relative(process.cwd(), u) || u;
  const failureTypes: FailureTypeReport[] = [
    failureTypeReport('in-distribution errors', `wrong Top-1 predictions on ${rel(resultsUri)}`, errorPool(test), {
      names,
    }),
  ];
  if (f.shifted) {
    const s = await read(f.shifted);
    const sh = scorable(s.records, s.classes);
    if (sh.length === 0)
      throw new InputError(`no labelled, scorable records under ${f.shifted}: --shifted needs a run with --labels`);
    failureTypes.push(
      failureTypeReport('shifted errors', `wrong Top-1 predictions on ${rel(f.shifted)}`, errorPool(sh), { names }),
    );
  }
  const oods: { uri: string; report: OodReport }[] = [];
  for (const uri of oodUris) {
    const unknown = (await read(uri)).records;
    const report = outOfDistributionReport(records, unknown, { fusionWeight, omit });
    if (report.nOut === 0)
      throw new InputError(`no scored records under ${uri}: --ood needs a finished run over unknown-object images`);
    oods.push({ uri, report });
    failureTypes.push(
      failureTypeReport(
        `unknown objects (${path.basename(uri.replace(/\/+$/, ''))})`,
        `wrong predictions on ${rel(resultsUri)} and every image of ${rel(uri)}`,
        unknownPool(test, unknown),
        { names },
      ),
    );
  }
  const ood = oods[0]?.report;
  const decision = spec ? decisionOf(spec) : null;
  if (f.json)
    await fs.writeFile(
      f.json,
      JSON.stringify({ n: test.length, decision, fusionWeight, reports, ood, unknowns: oods, failureTypes }, null, 2),
    );
  if (f.plot) await writePlot(f.plot, reports);
  const oodSection = oods.map((o) => `\n### Unknown objects (${rel(o.uri)})\n\n${markdownOodTable(o.report)}`).join('');
  const byType = `\n### By failure type\n\nFailure = a wrong prediction, or (unknown objects) any unknown image; AUROC = P(a non-failure outscores a failure); AUGRC = mean risk of an undetected failure over all rejection rates (Traub et al. 2024).\n\n${markdownFailureTypes(failureTypes)}`;
  const omitted = omit.length
    ? `Left out: ${omit.map((n) => `scores.${n}`).join(', ')} (the run's model has no spatial attention, so they are 0 on every image).\n\n`
    : '';
  const partialNotes = [...coverages].map(([uri, c]) => partialNote(uri, c)).join('');
  return (
    partialNotes +
    (decision ? `${decision}\n\n` : '') +
    omitted +
    header +
    markdownTables(reports, test.length, records.length - test.length) +
    oodSection +
    byType
  );
}
