/**
 * Labels for image keys: `folder` (the first path segment is the class, ImageFolder layout;
 * under a split folder such as train/ or test/, the second) or a CSV (`key,label`) / JSONL
 * (`{"key","label"}`) object. Class names are compared after lower-casing and dropping
 * everything but letters and digits, so `tshirt_top`, `T-shirt/top` and `TShirtTop` are one class.
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

/** Folder names taken as dataset splits (case-insensitive) where they are a key's first folder. */
export const SPLIT_FOLDERS = ['train', 'training', 'val', 'valid', 'validation', 'test', 'testing', 'dev', 'holdout'];

/** A key's split: its first folder where that is a split name and a class folder follows (train/cat/x.jpg). */
export function splitOf(key: string): string | null {
  const parts = key.split('/');
  return parts.length >= 3 && SPLIT_FOLDERS.includes(parts[0]!.toLowerCase()) ? parts[0]! : null;
}

/** ImageFolder's class: the first folder, or the second under a split folder (train/cat/x.jpg: cat). */
export function folderLabel(key: string): string | null {
  const parts = key.split('/');
  if (parts.length < 2 || !parts[0]) return null;
  return splitOf(key) !== null ? parts[1]! || null : parts[0];
}

/** Keys a label file gives more than once: the last label is the one used. */
export interface DuplicateLabels {
  /** keys given more than once */
  keys: number;
  /** the first few, each with every label the file gives it, in file order */
  examples: { key: string; labels: string[] }[];
}

export interface LabelFile {
  labels: Map<string, string>;
  duplicates: DuplicateLabels;
}

/** Parses a CSV (`key,label`, header optional) or JSONL label file into key -> label. */
export function parseLabelFile(text: string, name: string): Map<string, string> {
  return readLabelFile(text, name).labels;
}

/** A label file's key -> label (the last label of a key given twice) and the keys it gives more than once. */
export function readLabelFile(text: string, name: string): LabelFile {
  const labels = new Map<string, string>();
  const repeated = new Map<string, string[]>();
  const set = (key: string, label: string) => {
    const had = labels.get(key);
    if (had !== undefined) {
      const all = repeated.get(key);
      if (all) all.push(label);
      else repeated.set(key, [had, label]);
    }
    labels.set(key, label);
  };
  parseLabelRows(text, name, set);
  const examples = [...repeated].slice(0, 5).map(([key, l]) => ({ key, labels: l }));
  return { labels, duplicates: { keys: repeated.size, examples } };
}

function parseLabelRows(text: string, name: string, set: (key: string, label: string) => void): void {
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
      set(key, String(label));
    });
    return;
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
    set(key, label);
  });
}
