/**
 * The records' Parquet writer (hyparquet-writer, one row group at a time): what goes in reads
 * back, through an independent reader (hyparquet in a child process), row for row and column
 * for column, nulls and optional fields included; the columns and types are the ones the
 * readers expect; the file is produced as a stream pulled one row group at a time.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import {
  EMPTY_SCORES,
  type ImageRecord,
  RECORD_COLUMNS,
  SCORE_NAMES,
  errorRecord,
  recordsParquetChunks,
  writeRecordsParquet,
} from '@overmap/shared';
import { readParquet, readParquetSchema } from '../helpers/fleet';
import { tmpDir } from '../helpers/services';

const CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat'];

/** Record i: every shape a record takes (ok with all optional scores, no_mask, errors, no label, odd keys). */
function record(i: number): ImageRecord {
  const key = i % 11 === 0 ? `ünïcode/ключ ${i} "q".png` : `c${i % 5}/img-${String(i).padStart(5, '0')}.jpg`;
  const label = i % 3 === 0 ? null : CLASSES[i % CLASSES.length]!;
  if (i % 17 === 0)
    return errorRecord(key, label, i % 2 ? 'decode_error' : 'read_error', `cannot read ${key}: HTTP 503`);
  const p = [0.5 + (i % 50) / 100, 0.1 + (i % 7) / 1000, 1 / (i + 3)];
  const noMask = i % 13 === 0;
  const scores = {
    ...EMPTY_SCORES,
    confidence: p[0]! * 0.9,
    overmap: noMask ? 0 : i / 1000 + 0.1,
    gradcam_seg: noMask ? 0 : 0.25,
    attention_seg: 1 / 3,
    gradcam_attention: Math.PI / 10,
    msp: p[0]!,
    entropy: 1.2345678901234567,
    margin: p[0]! - p[1]!,
  };
  if (i % 2 === 0)
    Object.assign(scores, {
      mc_dropout: i / 7,
      label_gradcam_seg: label ? 0.125 : null,
      gradcam_seg_rank: 0.5,
      gradcam_seg_auc: 0.75,
      gradcam_seg_pointing: i % 4 ? 1 : 0,
      gradcam_seg_localisation: 2.5,
      runner_up_seg: 0.01,
      gradcam_contrast: -0.24,
      maxlogit_pnorm: 0.375,
      label_quality: label ? p[1]! : null,
    });
  const r: ImageRecord = {
    key,
    label,
    status: noMask ? 'no_mask' : 'ok',
    error: null,
    prediction: {
      class: CLASSES[i % 5]!,
      index: i % 5,
      top: [
        { class: CLASSES[i % 5]!, p: p[0]! },
        { class: CLASSES[(i + 1) % 5]!, p: p[1]! },
        { class: CLASSES[(i + 2) % 5]!, p: p[2]! },
      ],
    },
    scores,
    accepted: i % 19 === 0 ? null : p[0]! * 0.9 >= 0.7,
  };
  if (i % 4 === 1) r.mask_fraction = noMask ? 0 : 0.3;
  if (i % 4 === 2) r.mask_fraction = null;
  if (i % 5 === 1) r.overlay = `overlays/${key}.png`;
  if (i % 5 === 2) r.overlay = null;
  if (i % 3 === 1) r.issue = i % 2 ? 'label_error' : 'none';
  if (i % 6 === 1)
    r.image = {
      width: 4000 + i,
      height: i % 12 === 1 ? null : 3000,
      format: i % 12 === 1 ? null : 'jpg',
      bytes: 1_000_000 + i,
      brightness: 0.5 - i / 10_000,
      luma_p05: 0.0625,
      luma_p99: 0.875,
      entropy: 7.25,
      sharpness: 123.5 + i,
      colorfulness: 0.125,
      content_hash: 'ab'.repeat(16),
      phash: (i % 16).toString(16).repeat(16),
    };
  if (i % 6 === 2) r.image = null;
  if (i % 2 === 0) r.image_issues = i % 14 === 0 ? ['dark', 'blurry'] : [];
  if (i % 9 === 0) r.duplicate_group = i % 18 === 0 ? `dup-${String(i).padStart(9, '0')}` : null;
  return r;
}

/**
 * What a record's row must hold, spelt out here (not through flattenRecord): null where the record
 * has null or nothing.
 */
function expectedRow(r: ImageRecord): Record<string, unknown> {
  const row: Record<string, unknown> = {
    key: r.key,
    label: r.label,
    status: r.status,
    error: r.error,
    pred_class: r.prediction?.class ?? null,
    pred_index: r.prediction?.index ?? null,
    pred_p: r.prediction?.top[0]?.p ?? null,
    top_json: r.prediction ? JSON.stringify(r.prediction.top) : null,
    accepted: r.accepted,
    mask_fraction: r.mask_fraction ?? null,
    overlay: r.overlay ?? null,
    issue: r.issue ?? null,
    image_width: r.image?.width ?? null,
    image_height: r.image?.height ?? null,
    image_format: r.image?.format ?? null,
    image_bytes: r.image?.bytes ?? null,
    image_brightness: r.image?.brightness ?? null,
    image_luma_p05: r.image?.luma_p05 ?? null,
    image_luma_p99: r.image?.luma_p99 ?? null,
    image_entropy: r.image?.entropy ?? null,
    image_sharpness: r.image?.sharpness ?? null,
    image_colorfulness: r.image?.colorfulness ?? null,
    image_content_hash: r.image?.content_hash ?? null,
    image_phash: r.image?.phash ?? null,
    image_issues: r.image_issues ? r.image_issues.join(',') : null,
    duplicate_group: r.duplicate_group ?? null,
  };
  for (const k of SCORE_NAMES) row[k] = r.scores[k] ?? null;
  return row;
}

async function* each<T>(xs: T[]): AsyncGenerator<T> {
  yield* xs;
}

describe('records Parquet (hyparquet-writer)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tmpDir();
  });
  afterAll(() => fs.rm(dir, { recursive: true, force: true }));

  it('round trip: every record reads back equal, column for column, nulls and optional fields included, across row groups', async () => {
    const records = Array.from({ length: 500 }, (_, i) => record(i));
    const file = path.join(dir, 'round-trip.parquet');
    expect(await writeRecordsParquet(file, each(records), { rowGroupRows: 64 })).toBe(500);
    const rows = await readParquet(file);
    expect(rows).toHaveLength(500);
    // Every column present in every row (hyparquet gives null for a null), values exactly equal.
    expect(rows.map((row) => Object.fromEntries(Object.keys(RECORD_COLUMNS).map((c) => [c, row[c] ?? null])))).toEqual(
      records.map(expectedRow),
    );
    expect(Object.keys(rows[0]!).sort()).toEqual(Object.keys(RECORD_COLUMNS).sort());
    // The prediction's top entries come back from top_json as they went in.
    rows.forEach((row, i) => {
      if (records[i]!.prediction) expect(JSON.parse(row.top_json as string)).toEqual(records[i]!.prediction!.top);
    });
    const shape = await readParquetSchema(file);
    expect(shape.rows).toBe(500);
    expect(shape.rowGroups).toBe(8); // 7 of 64 rows and one of 52
  });

  it('writes the column names, physical types and required/optional flags the readers expect (as @dsnp/parquetjs did)', async () => {
    const file = path.join(dir, 'schema.parquet');
    await writeRecordsParquet(file, each([record(1), record(17)]));
    const { columns } = await readParquetSchema(file);
    const physical = { UTF8: 'BYTE_ARRAY', INT32: 'INT32', DOUBLE: 'DOUBLE', BOOLEAN: 'BOOLEAN' };
    expect(columns).toEqual(
      Object.entries(RECORD_COLUMNS).map(([name, type]) => ({
        name,
        type: physical[type],
        ...(type === 'UTF8' ? { converted_type: 'UTF8' } : {}),
        repetition_type: name === 'key' || name === 'status' ? 'REQUIRED' : 'OPTIONAL',
      })),
    );
    expect(Object.keys(RECORD_COLUMNS).slice(0, 8)).toEqual([
      'key',
      'label',
      'status',
      'error',
      'pred_class',
      'pred_index',
      'pred_p',
      'top_json',
    ]);
    const cols = Object.keys(RECORD_COLUMNS);
    const at = cols.indexOf('accepted');
    expect(cols.slice(at, at + 4)).toEqual(['accepted', 'mask_fraction', 'overlay', 'issue']);
    expect(cols.slice(at + 4).every((c) => c.startsWith('image_') || c === 'duplicate_group')).toBe(true);
  });

  it('writes an empty file that reads back as zero rows', async () => {
    const file = path.join(dir, 'empty.parquet');
    expect(await writeRecordsParquet(file, each([]))).toBe(0);
    expect(await readParquet(file)).toEqual([]);
    expect((await readParquetSchema(file)).columns.map((c) => c.name)).toEqual(Object.keys(RECORD_COLUMNS));
  });

  it('is pulled one row group at a time: the first bytes come after one group of records is read, not the whole input', async () => {
    let pulled = 0;
    async function* counted(): AsyncGenerator<ImageRecord> {
      for (let i = 0; i < 1000; i++) {
        pulled++;
        yield record(i);
      }
    }
    const chunks = recordsParquetChunks(counted(), { rowGroupRows: 100 });
    const first = await chunks.next();
    expect(first.value!.subarray(0, 4).toString()).toBe('PAR1');
    expect(pulled).toBe(100);
    let n = 1;
    for await (const _ of chunks) n++;
    expect(n).toBe(11); // ten row groups, then the footer
  });

  it('fails, producing no complete file, when the records fail part way', async () => {
    async function* failing(): AsyncGenerator<ImageRecord> {
      for (let i = 0; i < 150; i++) yield record(i);
      throw new Error('key c0/x.jpg appears in two part files');
    }
    const file = path.join(dir, 'failed.parquet');
    await expect(writeRecordsParquet(file, failing(), { rowGroupRows: 100 })).rejects.toThrow(
      'appears in two part files',
    );
    const partial = await fs.readFile(file).catch(() => Buffer.alloc(0));
    expect(partial.subarray(-4).toString()).not.toBe('PAR1'); // no footer: no reader takes it for a whole file
  });
});
