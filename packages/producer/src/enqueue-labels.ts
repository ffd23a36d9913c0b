/**
 * The labels `overmap enqueue` puts into the listing chunks (`--labels folder` or a CSV/JSONL
 * file), and the tally it checks before the first job: labels that match no image key, or
 * that mostly name no class of the model, are refused; the counts go into the result.
 */
import { type BatchChunk, InputError, classIndexer, folderLabel, openObject, parseLabelFile } from '@overmap/shared';

export interface Labels {
  of: (key: string) => string | null;
  fileEntries: number | null;
}

export async function loadLabels(spec: string | null): Promise<Labels | null> {
  if (!spec) return null;
  if (spec === 'folder') return { of: folderLabel, fileEntries: null };
  const { store, key: name } = openObject(spec.replace(/\/$/, ''), 'labels URI');
  let raw: Buffer | undefined;
  try {
    raw = await store.getIfExists(name);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EISDIR')
      throw new InputError(
        `--labels ${spec} is a directory: give --labels folder (the first path segment is the class) or the URI of a CSV/JSONL file`,
      );
    throw e;
  }
  if (!raw) throw new InputError(`label file ${spec} not found: give --labels folder or the URI of a CSV/JSONL file`);
  const map = parseLabelFile(raw.toString('utf8'), name);
  return { of: (key) => map.get(key) ?? null, fileEntries: map.size };
}

/** Above this share of labels naming no class of the model (in the first page of batches), enqueue refuses. */
export const MAX_UNKNOWN_LABEL_SHARE = 0.5;

export interface LabelReport {
  /** image keys that got a label */
  labelled: number;
  /** of those, labels naming no class of the model (kept, counted neither right nor wrong) */
  unknownClass: number;
  unknownExamples: string[];
  /** label-file entries that matched no image key (null for --labels folder) */
  unmatchedEntries: number | null;
}

/** Counts the chunks' labels as they are written; `check` refuses bad labels before the first job. */
export class LabelTally {
  readonly report: LabelReport = { labelled: 0, unknownClass: 0, unknownExamples: [], unmatchedEntries: null };
  private readonly classOf: (label: string) => number | null;

  constructor(
    private readonly spec: string,
    private readonly labels: Labels,
    private readonly classes: string[],
  ) {
    this.classOf = classIndexer(classes);
  }

  count(chunk: BatchChunk): void {
    for (const l of chunk.labels ?? []) {
      if (l === null) continue;
      this.report.labelled++;
      if (this.classOf(l) !== null) continue;
      this.report.unknownClass++;
      if (this.report.unknownExamples.length < 5 && !this.report.unknownExamples.includes(l))
        this.report.unknownExamples.push(l);
    }
  }

  /** Before the first job: labels that match nothing, or mostly name no class, are refused. */
  check(listedImages: number, firstKey: string): void {
    const r = this.report;
    if (r.labelled === 0) {
      throw new InputError(
        `--labels ${this.spec} labels none of the first ${listedImages} image keys${this.labels.fileEntries !== null ? ` (the file has ${this.labels.fileEntries} entries: its keys must be relative to the dataset prefix, e.g. ${JSON.stringify(firstKey)})` : ''}: fix the label file or drop --labels`,
      );
    }
    if (r.unknownClass / r.labelled > MAX_UNKNOWN_LABEL_SHARE) {
      throw new InputError(
        `${r.unknownClass} of the first ${r.labelled} labels name no class of the model (e.g. ${r.unknownExamples.map((x) => JSON.stringify(x)).join(', ')}); its classes are ${this.classes.join(', ')}: fix the labels or use the right model`,
      );
    }
  }

  /** At the end of a fresh listing: label-file entries that matched no image key. */
  finish(): LabelReport {
    if (this.labels.fileEntries !== null)
      this.report.unmatchedEntries = Math.max(0, this.labels.fileEntries - this.report.labelled);
    return this.report;
  }
}
