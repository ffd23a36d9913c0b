/**
 * A record as one flat row (Parquet, CSV): every field of the record, the scores as one
 * column each, in the score registry's order (score-registry.ts: a new score is a new column
 * without another edit).
 */
import type { ImageRecord } from '../schemas';
import { type ScoreRegistry, SCORE_REGISTRY } from '../score-registry';

export type ColumnType = 'UTF8' | 'INT32' | 'DOUBLE' | 'BOOLEAN';
export type ColumnValue = string | number | boolean | undefined;
export type Column = [name: string, type: ColumnType, get: (r: ImageRecord) => ColumnValue];

/** A record's scores read by name, for a registry's names (a score a record does not carry reads as undefined). */
type ScoreValues = Readonly<Record<string, number | null | undefined>>;
const scoreOf = (scores: ScoreValues, name: string): number | undefined => scores[name] ?? undefined;

/**
 * Each column of a registry's records: its type and how it is read from a record (undefined where
 * the record has null or nothing).
 */
export function recordColumnsOf(registry: ScoreRegistry = SCORE_REGISTRY): Column[] {
  return [
    ['key', 'UTF8', (r) => r.key],
    ['label', 'UTF8', (r) => r.label ?? undefined],
    ['status', 'UTF8', (r) => r.status],
    ['error', 'UTF8', (r) => r.error ?? undefined],
    ['pred_class', 'UTF8', (r) => r.prediction?.class],
    ['pred_index', 'INT32', (r) => r.prediction?.index],
    ['pred_p', 'DOUBLE', (r) => r.prediction?.top[0]?.p],
    ['top_json', 'UTF8', (r) => (r.prediction ? JSON.stringify(r.prediction.top) : undefined)],
    ...registry.map(({ name }): Column => [name, 'DOUBLE', (r) => scoreOf(r.scores, name)]),
    ['accepted', 'BOOLEAN', (r) => r.accepted ?? undefined],
    ['mask_fraction', 'DOUBLE', (r) => r.mask_fraction ?? undefined],
    ['overlay', 'UTF8', (r) => r.overlay ?? undefined],
    ['issue', 'UTF8', (r) => r.issue],
    // the image's measures (image_*), its issues (comma-separated, '' when none) and its duplicate group
    ['image_width', 'INT32', (r) => r.image?.width ?? undefined],
    ['image_height', 'INT32', (r) => r.image?.height ?? undefined],
    ['image_format', 'UTF8', (r) => r.image?.format ?? undefined],
    ['image_bytes', 'INT32', (r) => r.image?.bytes],
    ['image_brightness', 'DOUBLE', (r) => r.image?.brightness],
    ['image_luma_p05', 'DOUBLE', (r) => r.image?.luma_p05],
    ['image_luma_p99', 'DOUBLE', (r) => r.image?.luma_p99],
    ['image_entropy', 'DOUBLE', (r) => r.image?.entropy],
    ['image_sharpness', 'DOUBLE', (r) => r.image?.sharpness],
    ['image_colorfulness', 'DOUBLE', (r) => r.image?.colorfulness],
    ['image_content_hash', 'UTF8', (r) => r.image?.content_hash],
    ['image_phash', 'UTF8', (r) => r.image?.phash],
    ['image_issues', 'UTF8', (r) => r.image_issues?.join(',')],
    ['duplicate_group', 'UTF8', (r) => r.duplicate_group ?? undefined],
  ];
}

const COLUMNS = recordColumnsOf();

/** Column name -> type, in column order; every column may be null except key and status. */
export const RECORD_COLUMNS: Record<string, ColumnType> = Object.fromEntries(
  COLUMNS.map(([name, type]) => [name, type]),
);
export const REQUIRED_COLUMNS = new Set(['key', 'status']);

/** The columns' readers, in RECORD_COLUMNS order (for writers that fill one array per column). */
export const COLUMN_GETTERS: readonly ((r: ImageRecord) => ColumnValue)[] = COLUMNS.map(([, , get]) => get);

/** The row of a record: undefined where the record has null or nothing. */
export function flattenRecord(r: ImageRecord): Record<string, ColumnValue> {
  const row: Record<string, ColumnValue> = {};
  for (const [name, , get] of COLUMNS) row[name] = get(r);
  return row;
}
