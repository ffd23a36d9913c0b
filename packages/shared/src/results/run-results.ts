/**
 * The one reader and writer of a run's results (layout.ts names the keys): run.json, the
 * part files, manifest.json, records.parquet and overlays. Producer, workers, finalize,
 * status, evaluate and the report all go through it.
 */
import type { Readable } from 'node:stream';
import { InputError } from '../errors';
import { sign, verify } from '../job-signing';
import { type BatchChunk, BatchChunkSchema, type ImageRecord, RecordSchema } from '../schemas';
import { type ObjectStore, PreconditionFailed, listAll } from '../storage/object-store';
import { openStore } from '../storage/open-store';
import { ANNOTATIONS_PREFIX, DUPLICATES_PARQUET, annotationsKey, duplicatesShardKey, FAILURES_JSONL, MANIFEST_JSON, PARTS_LIST, PARTS_PREFIX, chunkKey, shardKey, shardSummaryKey, RECORDS_PARQUET, RUN_JSON, batchFromPartKey, overlayKey, partKey } from './layout';
import { type Manifest, ManifestSchema } from './manifest';
import { type RunJson, type RunJsonInput, RunJsonSchema } from './run-json';
import type { RunSummaryState } from './run-summary';

function parseJson<T>(raw: Buffer, what: string, parse: (v: unknown) => T): T {
  let v: unknown;
  try {
    v = JSON.parse(raw.toString('utf8'));
  } catch (e) {
    throw new InputError(`${what} is not valid JSON (${(e as Error).message}): it was not written by overmap, or was cut short`);
  }
  try {
    return parse(v);
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(`${what} does not match this version's schema (${(e as Error).message.split('\n')[0]})`, { cause: e });
  }
}

export interface RunResultsOptions {
  /** OVERMAP_JOB_SECRET: run.json and listing chunks are signed on write and verified on read */
  secret?: string;
  /** OVERMAP_ALLOWED_PREFIXES, parsed: a local results folder's files must really lie under one (links followed) */
  allowed?: string[];
}

export class RunResults {
  constructor(readonly store: ObjectStore, private readonly options: RunResultsOptions = {}) {}

  static open(uri: string, options: RunResultsOptions = {}): RunResults {
    return new RunResults(openStore(uri, { allowed: options.allowed }, 'results URI'), options);
  }

  /** With a secret: the raw object must carry a valid signature (checked before the schema fills defaults). */
  private verified(raw: unknown, what: string): unknown {
    const { secret } = this.options;
    if (secret && (typeof raw !== 'object' || raw === null || !verify(raw as Record<string, unknown>, secret))) {
      throw new InputError(`${what} is unsigned or altered (OVERMAP_JOB_SECRET): refused; only the producer may write it`);
    }
    return raw;
  }

  get uri(): string {
    return this.store.uri;
  }

  /** run.json, or undefined where no run was enqueued here. */
  async readRun(): Promise<RunJson | undefined> {
    const raw = await this.store.getIfExists(RUN_JSON);
    return raw && parseJson(raw, `${this.uri}${RUN_JSON}`, (v) => RunJsonSchema.parse(this.verified(v, `${this.uri}${RUN_JSON}`)));
  }

  /** run.json, which must exist (and belong to `runId`, where given). */
  async requireRun(runId?: string): Promise<RunJson> {
    const run = await this.readRun();
    if (!run) throw new InputError(`no ${RUN_JSON} under ${this.uri}: give the --out of a run (overmap enqueue/run writes it)`);
    if (runId !== undefined && run.run_id !== runId) throw new InputError(`${RUN_JSON} under ${this.uri} is for run ${run.run_id}, not ${runId}`);
    return run;
  }

  async writeRun(run: RunJsonInput): Promise<void> {
    const { sig: _old, ...rest } = RunJsonSchema.parse(run);
    await this.store.put(RUN_JSON, JSON.stringify(sign(rest, this.options.secret), null, 2), { contentType: 'application/json' });
  }

  async readManifest(): Promise<Manifest | undefined> {
    const raw = await this.store.getIfExists(MANIFEST_JSON);
    return raw && parseJson(raw, `${this.uri}${MANIFEST_JSON}`, (v) => ManifestSchema.parse(v));
  }

  hasManifest(): Promise<boolean> {
    return this.store.exists(MANIFEST_JSON);
  }

  /** Writes manifest.json once: false when another finalization wrote it first. */
  async writeManifest(m: Manifest): Promise<boolean> {
    try {
      // NaN (an empty set's quantile) is written as null, as JSON has no NaN.
      const clean = ManifestSchema.parse(JSON.parse(JSON.stringify(m)));
      await this.store.put(MANIFEST_JSON, JSON.stringify(clean, null, 2), { contentType: 'application/json', ifNoneMatch: true });
      return true;
    } catch (e) {
      if (e instanceof PreconditionFailed) return false;
      throw e;
    }
  }

  async writeChunk(chunk: BatchChunk): Promise<void> {
    const { sig: _old, ...rest } = chunk;
    await this.store.put(chunkKey(chunk.batch), JSON.stringify(sign(rest, this.options.secret)), { contentType: 'application/json' });
  }

  chunkExists(batch: number): Promise<boolean> {
    return this.store.exists(chunkKey(batch));
  }

  /** A batch's keys and labels; an InputError where the chunk is missing or malformed. */
  async readChunk(batch: number): Promise<BatchChunk> {
    const key = chunkKey(batch);
    const raw = await this.store.getIfExists(key);
    if (!raw)
      throw new InputError(
        `${this.uri}${key} is missing: \`overmap retry ${this.uri}\` (or the same overmap run again) lists the dataset again and rebuilds it`,
      );
    const chunk = parseJson(raw, `${this.uri}${key}`, (v) => BatchChunkSchema.parse(this.verified(v, `${this.uri}${key}`)));
    if (chunk.batch !== batch) throw new InputError(`${this.uri}${key} holds batch ${chunk.batch}, not ${batch}`);
    return chunk;
  }

  /** One line per batch that failed for good, its error (S3 Batch Operations' report, in spirit). */
  async writeFailures(lines: { batch: number; error: string; attempts: number; failed_at: string }[]): Promise<string> {
    await this.store.put(FAILURES_JSONL, lines.map((l) => JSON.stringify(l)).join('\n') + (lines.length ? '\n' : ''), { contentType: 'application/x-ndjson' });
    return FAILURES_JSONL;
  }

  async writePart(batch: number, records: ImageRecord[]): Promise<void> {
    await this.store.put(partKey(batch), records.map((r) => JSON.stringify(r)).join('\n') + '\n', { contentType: 'application/x-ndjson' });
  }

  partExists(batch: number): Promise<boolean> {
    return this.store.exists(partKey(batch));
  }

  /** The records of one batch, in order. */
  async readPart(batch: number): Promise<ImageRecord[]> {
    const key = partKey(batch);
    const text = (await this.store.get(key)).toString('utf8');
    const out: ImageRecord[] = [];
    text.split('\n').forEach((line, i) => {
      if (!line.trim()) return;
      out.push(parseJson(Buffer.from(line), `${this.uri}${key} line ${i + 1}`, (v) => RecordSchema.parse(v)));
    });
    return out;
  }

  /** The batch numbers whose part file exists, in key order. */
  async *partBatches(): AsyncGenerator<number> {
    for await (const o of listAll(this.store, PARTS_PREFIX)) {
      const b = batchFromPartKey(o.key);
      if (b !== undefined) yield b;
    }
  }

  /** Every record of every part file present, one part in memory at a time. */
  async *records(): AsyncGenerator<ImageRecord> {
    for await (const b of this.partBatches()) yield* await this.readPart(b);
  }

  /** Writes an image's overlay PNG; returns its key (what the record names). */
  async putOverlay(imageKey: string, png: Buffer): Promise<string> {
    const key = overlayKey(imageKey);
    await this.store.put(key, png, { contentType: 'image/png' });
    return key;
  }

  /**
   * records.parquet (one shard) or records/part-NNNNN.parquet; a stream is uploaded as it is
   * produced (records-parquet.ts).
   */
  async putParquet(body: Buffer | Readable, shard?: number): Promise<string> {
    const key = shard === undefined ? RECORDS_PARQUET : shardKey(shard);
    await this.store.put(key, body, { contentType: 'application/vnd.apache.parquet' });
    return key;
  }

  async writeShardSummary(shard: number, state: RunSummaryState): Promise<void> {
    await this.store.put(shardSummaryKey(shard), JSON.stringify(state), { contentType: 'application/json' });
  }

  /** A shard's summary, or undefined while its compaction has not finished. */
  async readShardSummary(shard: number): Promise<RunSummaryState | undefined> {
    const raw = await this.store.getIfExists(shardSummaryKey(shard));
    return raw && (JSON.parse(raw.toString('utf8')) as RunSummaryState);
  }

  /** duplicates.parquet (one shard) or duplicates/part-NNNNN.parquet; returns its key. */
  async putDuplicates(body: Buffer, shard?: number): Promise<string> {
    const key = shard === undefined ? DUPLICATES_PARQUET : duplicatesShardKey(shard);
    await this.store.put(key, body, { contentType: 'application/vnd.apache.parquet' });
    return key;
  }

  /** The run-wide step's output for one shard (annotate-run.ts), or for the run (`shard` undefined). */
  async writeAnnotations(shard: number | 'run', body: unknown): Promise<void> {
    const key = shard === 'run' ? `${ANNOTATIONS_PREFIX}run.json` : annotationsKey(shard);
    await this.store.put(key, JSON.stringify(body), { contentType: 'application/json' });
  }

  async readAnnotations(shard: number | 'run'): Promise<unknown> {
    const key = shard === 'run' ? `${ANNOTATIONS_PREFIX}run.json` : annotationsKey(shard);
    const raw = await this.store.getIfExists(key);
    return raw && parseJson(raw, `${this.uri}${key}`, (v) => v);
  }

  async writePartsList(keys: string[]): Promise<string> {
    await this.store.put(PARTS_LIST, keys.join('\n') + '\n', { contentType: 'text/plain' });
    return PARTS_LIST;
  }

  /** The full URI of a key under the results (for messages and summaries). */
  uriOf(key: string): string {
    return `${this.uri.replace(/\/?$/, '/')}${key}`;
  }
}

