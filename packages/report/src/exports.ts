/**
 * A queue's listed records as files a relabelling tool takes: CSV and JSONL (key, image URI,
 * label, prediction, status, the queue's rank and every score), and Label Studio tasks (the
 * image URI as the dataset gives it, so s3:// stays s3://; the prediction as a pre-annotation
 * of a `Choices` control named "class" on an `Image` named "image"; the scores as the task's
 * meta). label-studio-config.xml holds the matching labelling config.
 */
import { type ImageRecord, SCORE_NAMES } from '@overmap/shared';

export interface ExportRow extends ImageRecord {
  rank: number;
}

/** The image's URI as the dataset gives it: the dataset URI joined with the key. */
export const imageUri = (dataset: string, key: string) => `${dataset.replace(/\/?$/, '/')}${key}`;

/** The first characters that make a spreadsheet read a cell as a formula (OWASP, CSV injection). */
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * A CSV field (RFC 4180), safe to open in a spreadsheet: quoted when it holds a comma, quote or
 * line break. A string that begins with =, +, -, @, tab or carriage return gets a leading `'`
 * (inside the quotes, where quoted), so that Excel, LibreOffice and Sheets show it as text and
 * never run it: keys, labels and error messages come from whoever wrote the dataset. Only
 * strings are neutralised: the scores, p and the rank are written as numbers and stay numbers
 * (a negative score is -0.25, sortable as a number), while a label "-1" is a string and is
 * written '-1.
 */
export function csvField(v: unknown): string {
  let s = v === null || v === undefined ? '' : String(v);
  if (typeof v === 'string' && FORMULA_START.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function flatRow(r: ExportRow, dataset: string, rankName: string): Record<string, unknown> {
  const row: Record<string, unknown> = {
    key: r.key,
    image: imageUri(dataset, r.key),
    label: r.label,
    prediction: r.prediction?.class ?? null,
    p: r.prediction?.top[0]?.p ?? null,
    status: r.status,
    error: r.error,
    accepted: r.accepted,
    image_issues: (r.image_issues ?? []).join(','),
    duplicate_group: r.duplicate_group ?? null,
  };
  if (rankName) row[rankName] = r.rank;
  for (const s of SCORE_NAMES) row[s] = r.scores[s] ?? null;
  return row;
}

export function toCsv(rows: ExportRow[], dataset: string, rankName: string): string {
  const header = Object.keys(
    flatRow(
      {
        key: '',
        label: null,
        status: 'ok',
        error: null,
        prediction: null,
        scores: {} as ImageRecord['scores'],
        accepted: null,
        rank: 0,
      },
      dataset,
      rankName,
    ),
  );
  const lines = [header.map(csvField).join(',')];
  for (const r of rows) {
    const f = flatRow(r, dataset, rankName);
    lines.push(header.map((h) => csvField(f[h])).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}

export function toJsonl(rows: ExportRow[], dataset: string, rankName: string): string {
  return (
    rows
      .map((r) =>
        JSON.stringify({
          key: r.key,
          image: imageUri(dataset, r.key),
          label: r.label,
          prediction: r.prediction,
          status: r.status,
          error: r.error,
          accepted: r.accepted,
          image_issues: r.image_issues ?? [],
          duplicate_group: r.duplicate_group ?? null,
          ...(rankName ? { [rankName]: r.rank } : {}),
          scores: r.scores,
        }),
      )
      .join('\n') + (rows.length ? '\n' : '')
  );
}

export function toLabelStudio(rows: ExportRow[], dataset: string, rankName: string, modelVersion: string): string {
  const tasks = rows.map((r) => ({
    data: { image: imageUri(dataset, r.key), key: r.key, label: r.label },
    ...(r.prediction
      ? {
          predictions: [
            {
              model_version: modelVersion,
              score: r.scores.confidence ?? undefined,
              result: [
                { from_name: 'class', to_name: 'image', type: 'choices', value: { choices: [r.prediction.class] } },
              ],
            },
          ],
        }
      : {}),
    meta: {
      status: r.status,
      error: r.error,
      accepted: r.accepted,
      image_issues: r.image_issues ?? [],
      duplicate_group: r.duplicate_group ?? null,
      ...(rankName ? { [rankName]: r.rank } : {}),
      scores: r.scores,
      top: r.prediction?.top ?? null,
    },
  }));
  return JSON.stringify(tasks, null, 1);
}

const xmlEsc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');

export function labelStudioConfig(classes: string[]): string {
  return [
    '<View>',
    '  <Image name="image" value="$image"/>',
    '  <Choices name="class" toName="image" choice="single">',
    ...classes.map((c) => `    <Choice value="${xmlEsc(c)}"/>`),
    '  </Choices>',
    '</View>',
    '',
  ].join('\n');
}
