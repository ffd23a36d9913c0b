/**
 * `overmap audit <results-uri> --sample N`: draws the stratified sample a person verifies and
 * writes it under <results-uri>/audit/ as a CSV to fill in and as Label Studio tasks.
 * `overmap audit <results-uri> --verified <csv|jsonl|json>`: every confidence measured on those
 * verified labels (AURC, AUGRC, AUROC with bootstrap 95% intervals), the decision score chosen
 * and its threshold certified by risk control; written to <results-uri>/audit/audit.json (the
 * report shows it) and, with --spec-out, into a model spec the next run can use.
 */
import {
  type AuditResult,
  auditRecords,
  readRecords,
  readVerified,
  stratifiedSample,
  NOT_A_CLASS,
} from '@overmap/evaluation';
import { InputError, RunResults, openObject } from '@overmap/shared';
import { type ModelSpec, readSpec } from '@overmap/engine';
import { csvField, imageUri, labelStudioConfig } from '@overmap/report';

export interface AuditFlags {
  verified?: string;
  sample?: number;
  alpha?: number;
  delta?: number;
  specOut?: string;
  partial?: boolean;
}

export const AUDIT_JSON = 'audit/audit.json';

export async function auditCommand(resultsUri: string, f: AuditFlags): Promise<string> {
  if (!f.verified === !f.sample)
    throw new InputError(
      'overmap audit needs one of --sample N (draw the images to verify) or --verified <file> (measure on them)',
    );
  const { records, classes } = await readRecords(resultsUri, { partial: f.partial });
  const results = RunResults.open(resultsUri);
  const run = await results.requireRun();
  if (f.sample) return writeSample(results, records, classes, run.dataset, f.sample);
  const { store, key } = openObject(f.verified!, '--verified');
  const text = (await store.getIfExists(key))?.toString('utf8');
  if (text === undefined)
    throw new InputError(`--verified ${f.verified} does not exist: give the file of verified labels`);
  const verified = readVerified(text, f.verified!);
  const audit = auditRecords(records, verified, classes, { alpha: f.alpha ?? 0.1, delta: f.delta ?? 0.1 });
  if (audit.scored === 0)
    throw new InputError(
      `none of the ${verified.size} keys in --verified ${f.verified} is a scored image of ${resultsUri}: give the verified sample of this run (overmap audit --sample writes one)`,
    );
  const { spec } = await readSpec(run.model.uri);
  await results.store.put(
    AUDIT_JSON,
    JSON.stringify({ ...audit, verifiedUri: f.verified, created: new Date().toISOString() }, null, 2),
    {
      contentType: 'application/json',
    },
  );
  const lines = [auditMarkdown(audit, spec), `Written: ${results.uri}${AUDIT_JSON}`];
  if (f.specOut) lines.push(`Spec for the next run: ${await writeAuditedSpec(spec, audit, run.model.uri, f.specOut)}`);
  return `${lines.join('\n')}\n`;
}

async function writeSample(
  results: RunResults,
  records: Parameters<typeof stratifiedSample>[0],
  classes: string[],
  dataset: string,
  n: number,
): Promise<string> {
  const sample = stratifiedSample(records, n);
  const csv = ['key,label', ...sample.map((r) => `${csvField(r.key)},`)].join('\n') + '\n';
  // No pre-annotation: a person shown the model's answer tends to confirm it.
  const tasks = sample.map((r) => ({ data: { image: imageUri(dataset, r.key), key: r.key } }));
  await results.store.put('audit/sample.csv', csv, { contentType: 'text/csv' });
  await results.store.put('audit/label-studio-tasks.json', JSON.stringify(tasks, null, 1), {
    contentType: 'application/json',
  });
  await results.store.put('audit/label-studio-config.xml', labelStudioConfig([...classes, NOT_A_CLASS]), {
    contentType: 'application/xml',
  });
  return [
    `${sample.length} images drawn (stratified by predicted class and confidence quartile) for a person to verify:`,
    `  ${results.uri}audit/sample.csv: fill in the label column (any word that names no class, such as "${NOT_A_CLASS}", marks an image of none of the classes)`,
    `  ${results.uri}audit/label-studio-tasks.json with audit/label-studio-config.xml: the same images as Label Studio tasks`,
    `Then: overmap audit ${results.uri} --verified <the filled CSV, or Label Studio's JSON export>`,
    '',
  ].join('\n');
}

const ci = (x: { value: number; lo: number; hi: number }, scale = 1000, digits = 1) =>
  `${(x.value * scale).toFixed(digits)} [${(x.lo * scale).toFixed(digits)}, ${(x.hi * scale).toFixed(digits)}]`;

export function auditMarkdown(a: AuditResult, spec: ModelSpec): string {
  const rc = a.chosen.riskControl;
  const lines = [
    `${a.scored} verified images scored (${a.verified} verified; ${a.unknownKeys.length} keys not in the run; ${a.notAClass} of none of the classes). Top-1 accuracy on them: ${(a.accuracy * 100).toFixed(1)}%.`,
    '',
    '| confidence | AURC ‰ [95% CI] ↓ | AUGRC ‰ [95% CI] ↓ | AUROC of errors [95% CI] ↑ |',
    '| --- | --- | --- | --- |',
    ...a.scores.map((s) => `| ${s.name} | ${ci(s.aurc)} | ${ci(s.augrc)} | ${ci(s.auroc, 1, 3)} |`),
    '',
    `Decision score chosen (lowest AUGRC among those a spec can decide by): ${a.chosen.score}${a.chosen.decision ? ` (decision ${JSON.stringify(a.chosen.decision)})` : ` (the run's decision, ${spec.decision.rule})`}.`,
  ];
  if (rc.threshold === null) lines.push(`No threshold certified: ${rc.reason}.`);
  else
    lines.push(
      `Threshold ${rc.threshold.toPrecision(6)}: error among accepted ≤ ${rc.alpha} with probability ≥ ${1 - rc.delta} ` +
        `(on the sample: ${rc.accepted} accepted, ${rc.errors} errors, coverage ${(rc.coverage * 100).toFixed(1)}%; binomial p = ${rc.pValue!.toExponential(2)}); ` +
        `it accepts ${((a.chosen.runCoverage ?? 0) * 100).toFixed(1)}% of the run's scored images.`,
    );
  return lines.join('\n');
}

/** The run's spec with the chosen decision and threshold, written where its model files are found. */
async function writeAuditedSpec(spec: ModelSpec, a: AuditResult, from: string, to: string): Promise<string> {
  const t = a.chosen.riskControl.threshold;
  if (t === null) throw new InputError(`--spec-out ${to}: no threshold was certified, so there is no spec to write`);
  const { store, key } = openObject(to, '--spec-out');
  const dir = key.includes('/') ? key.slice(0, key.lastIndexOf('/') + 1) : '';
  const named = [spec.classifier.model, ...('model' in spec.segmenter ? [spec.segmenter.model] : [])];
  for (const m of named)
    if (!(await store.exists(dir + m)))
      throw new InputError(
        `--spec-out ${to}: the spec names ${m}, which is not beside it: write it in the folder of the run's spec (${from})`,
      );
  const decision = a.chosen.decision ? { ...spec.decision, ...a.chosen.decision } : spec.decision;
  const notes = `overmap audit: ${a.chosen.score} chosen on ${a.scored} verified images; threshold certified for error ≤ ${a.chosen.riskControl.alpha} at δ = ${a.chosen.riskControl.delta}`;
  await store.put(key, JSON.stringify({ ...spec, decision, threshold: t, notes }, null, 2), {
    contentType: 'application/json',
  });
  return to;
}
