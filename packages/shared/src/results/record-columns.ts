/**
 * A record as one flat row (Parquet, CSV): every field of the record, the scores as one
 * column each (from SCORE_NAMES, so a new score is a new column without another edit).
 */
import { type ImageRecord, SCORE_NAMES } from '../schemas';

export type ColumnType = 'UTF8' | 'INT32' | 'DOUBLE' | 'BOOLEAN';
export type ColumnValue = string | number | boolean | undefined;

/** Each column: its type and how it is read from a record (undefined where the record has null or nothing). */
const COLUMNS: [name: string, type: ColumnType, get: (r: ImageRecord) => ColumnValue][] = [
  ['key', 'UTF8', (r) => r.key],
  ['label', 'UTF8', (r) => r.label ?? undefined],
  ['status', 'UTF8', (r) => r.status],
  ['error', 'UTF8', (r) => r.error ?? undefined],
  ['pred_class', 'UTF8', (r) => r.prediction?.class],
  ['pred_index', 'INT32', (r) => r.prediction?.index],
  ['pred_p', 'DOUBLE', (r) => r.prediction?.top[0]?.p],
  ['top_json', 'UTF8', (r) => (r.prediction ? JSON.stringify(r.prediction.top) : undefined)],
  ...SCORE_NAMES.map((k): [string, ColumnType, (r: ImageRecord) => ColumnValue] => [k, 'DOUBLE', (r) => r.scores[k] ?? undefined]),
  ['accepted', 'BOOLEAN', (r) => r.accepted ?? undefined],
  ['mask_fraction', 'DOUBLE', (r) => r.mask_fraction ?? undefined],
  ['overlay', 'UTF8', (r) => r.overlay ?? undefined],
];

/** Column name -> type, in column order; every column may be null except key and status. */
export const RECORD_COLUMNS: Record<string, ColumnType> = Object.fromEntries(COLUMNS.map(([name, type]) => [name, type]));
export const REQUIRED_COLUMNS = new Set(['key', 'status']);

/** The columns' readers, in RECORD_COLUMNS order (for writers that fill one array per column). */
export const COLUMN_GETTERS: readonly ((r: ImageRecord) => ColumnValue)[] = COLUMNS.map(([, , get]) => get);

/** The row of a record: undefined where the record has null or nothing. */
export function flattenRecord(r: ImageRecord): Record<string, ColumnValue> {
  const row: Record<string, ColumnValue> = {};
  for (const [name, , get] of COLUMNS) row[name] = get(r);
  return row;
}
