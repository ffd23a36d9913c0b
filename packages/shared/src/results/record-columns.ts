/**
 * A record as one flat row (Parquet, CSV): every field of the record, the scores as one
 * column each (from SCORE_NAMES, so a new score is a new column without another edit).
 */
import { type ImageRecord, SCORE_NAMES } from '../schemas';

export type ColumnType = 'UTF8' | 'INT32' | 'DOUBLE' | 'BOOLEAN';

/** Column name -> type; every column may be null except key and status. */
export const RECORD_COLUMNS: Record<string, ColumnType> = {
  key: 'UTF8', label: 'UTF8', status: 'UTF8', error: 'UTF8',
  pred_class: 'UTF8', pred_index: 'INT32', pred_p: 'DOUBLE', top_json: 'UTF8',
  ...Object.fromEntries(SCORE_NAMES.map((k) => [k, 'DOUBLE' as const])),
  accepted: 'BOOLEAN', mask_fraction: 'DOUBLE', overlay: 'UTF8',
};
export const REQUIRED_COLUMNS = new Set(['key', 'status']);

/** The row of a record: undefined where the record has null or nothing. */
export function flattenRecord(r: ImageRecord): Record<string, string | number | boolean | undefined> {
  const row: Record<string, string | number | boolean | undefined> = {
    key: r.key, label: r.label ?? undefined, status: r.status, error: r.error ?? undefined,
    pred_class: r.prediction?.class, pred_index: r.prediction?.index, pred_p: r.prediction?.top[0]?.p,
    top_json: r.prediction ? JSON.stringify(r.prediction.top) : undefined,
    accepted: r.accepted ?? undefined, mask_fraction: r.mask_fraction ?? undefined, overlay: r.overlay ?? undefined,
  };
  for (const k of SCORE_NAMES) row[k] = r.scores[k] ?? undefined;
  return row;
}
