/**
 * Unknown fields of a model spec, named with the nearest known name: every object of the spec
 * schema is strict, so a misspelt "normalisation" or "attentionLayer" is an error, not a field
 * silently dropped for its default.
 */
import { z } from 'zod';

/** Edits (insert, delete, substitute) from a to b: Levenshtein's distance, one row at a time. */
export function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++)
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}

/** The known name closest to `name` within `maxDistance` edits (the first of equals), or undefined. */
export function nearestName(name: string, known: readonly string[], maxDistance = 3): string | undefined {
  let best: string | undefined,
    bestD = maxDistance + 1;
  for (const k of known) {
    const d = editDistance(name, k);
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best;
}

/**
 * The field names the schema allows for the object at `path` of `input` (a union's member chosen by
 * its discriminator).
 */
function fieldsAt(schema: z.ZodType, path: readonly PropertyKey[], input: unknown): string[] {
  let s: z.ZodType = schema,
    v: unknown = input;
  for (let i = 0; ;) {
    if (s instanceof z.ZodDefault || s instanceof z.ZodOptional) s = s.unwrap() as z.ZodType;
    else if (s instanceof z.ZodDiscriminatedUnion) {
      const d = s._zod.def.discriminator;
      const tag = (v as Record<string, unknown> | undefined)?.[d];
      const member = (s.options as z.ZodType[]).find(
        (o) => o instanceof z.ZodObject && o.shape[d]!.safeParse(tag).success,
      );
      if (!member) return [];
      s = member;
    } else if (i === path.length) return s instanceof z.ZodObject ? Object.keys(s.shape) : [];
    else if (s instanceof z.ZodObject) {
      const k = String(path[i++]);
      s = s.shape[k] as z.ZodType;
      v = (v as Record<string, unknown> | undefined)?.[k];
      if (!s) return [];
    } else if (s instanceof z.ZodArray) {
      v = (v as unknown[] | undefined)?.[Number(path[i++])];
      s = s.element as z.ZodType;
    } else return [];
  }
}

/**
 * One line per unknown field of a failed parse, e.g. `unknown field "classifier.normalisation" in
 * <uri>: did you mean "normalization"?`, joined by "; "; undefined when no field is unknown.
 */
export function unknownFieldsMessage(
  schema: z.ZodType,
  issues: readonly z.core.$ZodIssue[],
  input: unknown,
  uri: string,
): string | undefined {
  const lines: string[] = [];
  for (const issue of issues) {
    if (issue.code !== 'unrecognized_keys') continue;
    const known = fieldsAt(schema, issue.path, input);
    for (const key of issue.keys) {
      const field = [...issue.path.map(String), key].join('.');
      const near = nearestName(key, known);
      lines.push(
        `unknown field "${field}" in ${uri}: ${near ? `did you mean "${near}"?` : `remove it (the fields there are ${known.join(', ')})`}`,
      );
    }
  }
  return lines.length ? lines.join('; ') : undefined;
}
