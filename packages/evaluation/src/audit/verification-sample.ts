/**
 * The sample a person verifies for `overmap audit`, and reading their answers back.
 *
 * The sample is stratified by predicted class and by quartile of the decision score within the
 * class, each stratum drawn in proportion to its size (largest remainders for the rounding),
 * seeded: a random sample that still covers every class and every confidence level, so that the
 * audit's figures estimate the whole run's.
 */
import seedrandom from 'seedrandom';
import { type ImageRecord, InputError, isScored, readLabelFile } from '@overmap/shared';

export function stratifiedSample(records: ImageRecord[], n: number, seed = 'overmap-audit-sample'): ImageRecord[] {
  const scored = records.filter((r) => isScored(r.status) && r.prediction);
  if (n >= scored.length) return scored;
  const byClass = new Map<number, ImageRecord[]>();
  for (const r of scored) {
    const c = r.prediction!.index;
    const list = byClass.get(c) ?? [];
    list.push(r);
    byClass.set(c, list);
  }
  const strata: ImageRecord[][] = [];
  for (const list of byClass.values()) {
    list.sort((a, b) => (a.scores.confidence ?? 0) - (b.scores.confidence ?? 0) || (a.key < b.key ? -1 : 1));
    for (let q = 0; q < 4; q++) {
      const s = list.slice(Math.floor((q * list.length) / 4), Math.floor(((q + 1) * list.length) / 4));
      if (s.length) strata.push(s);
    }
  }
  const exact = strata.map((s) => (n * s.length) / scored.length);
  const take = exact.map(Math.floor);
  const order = exact.map((e, i) => [e - take[i]!, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (let k = 0, left = n - take.reduce((a, b) => a + b, 0); k < left; k++) take[order[k]![1]]!++;
  const rng = seedrandom(seed);
  const out: ImageRecord[] = [];
  strata.forEach((s, i) => {
    const pool = [...s];
    for (let j = 0; j < take[i]! && pool.length; j++) out.push(pool.splice(Math.floor(rng() * pool.length), 1)[0]!);
  });
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** Label Studio's "none of the classes" choice in the audit's labelling config. */
export const NOT_A_CLASS = 'none of these';

interface LabelStudioTask {
  data?: { key?: unknown };
  key?: unknown;
  class?: unknown;
  annotations?: { result?: { value?: { choices?: unknown[] } }[]; was_cancelled?: boolean }[];
}

/** The label a person chose for a Label Studio task (JSON export or JSON-MIN), or null where none. */
function labelStudioAnswer(t: LabelStudioTask): { key: string; label: string } | null {
  const key = t.data?.key ?? t.key;
  if (typeof key !== 'string') return null;
  if (typeof t.class === 'string') return { key, label: t.class };
  const a = (t.annotations ?? []).find((x) => !x.was_cancelled);
  const choice = a?.result?.[0]?.value?.choices?.[0];
  return typeof choice === 'string' ? { key, label: choice } : null;
}

/**
 * Verified labels: key → label, from a CSV (`key,label`), JSONL ({"key","label"}) or a Label
 * Studio export (JSON or JSON-MIN) of the audit's tasks.
 */
export function readVerified(text: string, name: string): Map<string, string> {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('[')) {
    let tasks: unknown;
    try {
      tasks = JSON.parse(text);
    } catch (e) {
      throw new InputError(
        `--verified ${name} is not valid JSON (${(e as Error).message}): give Label Studio's JSON export`,
      );
    }
    const out = new Map<string, string>();
    for (const t of tasks as LabelStudioTask[]) {
      const a = labelStudioAnswer(t ?? {});
      if (a) out.set(a.key, a.label);
    }
    if (out.size === 0)
      throw new InputError(
        `--verified ${name} holds no answered task with a data.key: export the audit's tasks from Label Studio after labelling them`,
      );
    return out;
  }
  const { labels, duplicates } = readLabelFile(text, name);
  if (duplicates.keys > 0)
    throw new InputError(
      `--verified ${name} gives ${duplicates.keys} keys more than once (first: ${duplicates.examples[0]!.key}): keep one verified label per key`,
    );
  return labels;
}
