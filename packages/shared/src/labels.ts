/**
 * Labels for image keys: `folder` (the first path segment is the class, ImageFolder
 * layout) or a CSV (`key,label`) / JSONL (`{"key","label"}`) object. Class names are
 * compared after lower-casing and dropping everything but letters and digits, so
 * `tshirt_top`, `T-shirt/top` and `TShirtTop` are one class.
 */
import { parse as parseCsv } from 'csv-parse/sync';
import { InputError } from './errors';

export const canonicalClass = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, '');

/**
 * The one rule from a label to a class: the index of the class whose canonical name equals the
 * label's, or null when the label names none of the model's classes. Such a label is kept in
 * the record but counts as neither right nor wrong (the manifest's and evaluate's accuracies
 * leave it out alike).
 */
export function classIndexer(classes: readonly string[]): (label: string | null | undefined) => number | null {
  const index = new Map(classes.map((c, i) => [canonicalClass(c), i]));
  return (label) => (label == null ? null : (index.get(canonicalClass(label)) ?? null));
}

export const IMAGE_EXTENSIONS = ['jpg', 'jpeg', 'png', 'webp', 'gif', 'tif', 'tiff', 'avif'];
export function isImageKey(key: string): boolean {
  const dot = key.lastIndexOf('.');
  return dot >= 0 && IMAGE_EXTENSIONS.includes(key.slice(dot + 1).toLowerCase());
}

export function folderLabel(key: string): string | null {
  const slash = key.indexOf('/');
  return slash > 0 ? key.slice(0, slash) : null;
}

/** Parses a CSV (`key,label`, header optional) or JSONL label file into key -> label. */
export function parseLabelFile(text: string, name: string): Map<string, string> {
  const out = new Map<string, string>();
  const first =
    text
      .split(/\r?\n/)
      .find((l) => l.trim())
      ?.trim() ?? '';
  if (name.toLowerCase().endsWith('.jsonl') || first.startsWith('{')) {
    text.split(/\r?\n/).forEach((line, i) => {
      if (!line.trim()) return;
      let o: unknown;
      try {
        o = JSON.parse(line);
      } catch {
        throw new InputError(
          `label file ${name} line ${i + 1} is not JSON: write one {"key": ..., "label": ...} per line`,
        );
      }
      const { key, label } = (o ?? {}) as { key?: unknown; label?: unknown };
      if (typeof key !== 'string' || (typeof label !== 'string' && typeof label !== 'number')) {
        throw new InputError(`label file ${name} line ${i + 1} needs string "key" and "label" fields`);
      }
      out.set(key, String(label));
    });
    return out;
  }
  let rows: string[][];
  try {
    rows = parseCsv(text, { skip_empty_lines: true, trim: true, relax_column_count: false }) as string[][];
  } catch (e) {
    throw new InputError(`label file ${name} is not valid CSV (${(e as Error).message}): write key,label per line`);
  }
  rows.forEach((row, i) => {
    if (row.length !== 2)
      throw new InputError(`label file ${name} row ${i + 1} has ${row.length} fields: write key,label per line`);
    const [key, label] = row as [string, string];
    if (i === 0 && key.toLowerCase() === 'key' && label.toLowerCase() === 'label') return; // header
    out.set(key, label);
  });
  return out;
}
