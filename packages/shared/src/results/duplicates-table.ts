/**
 * duplicates.parquet: one row per image that has a copy (CONTRACT: key, group, distance to the
 * group's first member), plus whether it is a byte-exact copy of that member, its split (labels.ts
 * splitOf: train/, test/, ... as a key's first folder) and whether its group spans splits (a leak
 * between training and test sets). Written with hyparquet-writer, like records.parquet.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const hw = require('hyparquet-writer') as typeof import('hyparquet-writer', { with: { 'resolution-mode': 'import' } });

export interface DuplicateRow {
  key: string;
  group: string;
  /** Hamming distance of the perceptual hashes to the group's first member (0 for the first) */
  distance: number;
  /** the file's bytes equal the first member's */
  exact: boolean;
  split: string | null;
  /** the group has members in more than one split */
  leaky: boolean;
}

export const DUPLICATE_COLUMNS = ['key', 'group', 'distance', 'exact', 'split', 'leaky'] as const;

/** The Parquet file of the rows (a run's duplicates: a few per cent of its records, held at once per shard). */
export function duplicatesParquet(rows: readonly DuplicateRow[]): Buffer {
  const col = <T>(f: (r: DuplicateRow) => T) => rows.map(f);
  const ab = hw.parquetWriteBuffer({
    columnData: [
      { name: 'key', data: col((r) => r.key), type: 'STRING', nullable: false },
      { name: 'group', data: col((r) => r.group), type: 'STRING', nullable: false },
      { name: 'distance', data: col((r) => r.distance), type: 'INT32', nullable: false },
      { name: 'exact', data: col((r) => r.exact), type: 'BOOLEAN', nullable: false },
      { name: 'split', data: col((r) => r.split), type: 'STRING' },
      { name: 'leaky', data: col((r) => r.leaky), type: 'BOOLEAN', nullable: false },
    ],
    codec: 'SNAPPY',
  });
  return Buffer.from(ab);
}

/** The group id of a group whose first member is image `first` of the run (its position in part order). */
export const groupId = (first: number) => `dup-${String(first).padStart(9, '0')}`;

/** The inverse: dup-000001234 -> 1234, or null (no group). */
export const groupOrdinal = (g: string | null | undefined) => (g ? Number(g.slice(g.lastIndexOf('-') + 1)) : null);
