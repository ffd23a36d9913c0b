/**
 * The write side of a listing: batches cut by the listing wait here until a page of groups is
 * complete, then their listing chunks are written, their groups' jobs added (addBulk,
 * deterministic ids) and the cursor saved in Redis, in that order, so that a resumed listing
 * never skips a batch whose chunk or job is missing. run.json is written before the first
 * chunk, once the labels of the first page have been checked.
 */
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import pLimit from 'p-limit';
import {
  type BatchChunk,
  type JobGrouping,
  type RunJson,
  type RunRef,
  type RunResults,
  batchGroupJob,
  groupStart,
} from '@overmap/shared';
import type { LabelTally } from './enqueue-labels';
import type { EnqueueCounts } from './enqueue-progress';

export interface FlushTarget {
  results: RunResults;
  /** run.json as enqueued: written before the first chunk, unless `runWritten` */
  run: RunJson;
  runWritten: boolean;
  tally: LabelTally | null;
  redis: Redis;
  /** the run's Redis state hash (runKeys().state) */
  stateKey: string;
  queue: Queue;
  /** what the jobs name */
  ref: RunRef;
  grouping: JobGrouping;
  /** jobs per addBulk call */
  bulkSize: number;
  /** a run started earlier whose Redis state is gone: groups whose part files all exist get no job */
  checkParts: boolean;
  secret?: string;
  counts: EnqueueCounts;
}

/** A cut batch waiting to be written, with the source's resume token after its last key (the cursor). */
interface PendingChunk {
  chunk: BatchChunk;
  after: string;
}

export class ChunkFlusher {
  private pending: PendingChunk[] = [];
  private runWritten: boolean;
  private readonly writes = pLimit(16);

  constructor(private readonly t: FlushTarget) {
    this.runWritten = t.runWritten;
  }

  add(chunk: BatchChunk, after: string): void {
    this.pending.push({ chunk, after });
  }

  /**
   * A page of groups is waiting and the next batch starts a group: flushes end on a group
   * boundary, so that a resumed listing starts a new group.
   */
  due(): boolean {
    const { counts, grouping, bulkSize } = this.t;
    return (
      this.pending.length >= bulkSize * grouping.jobBatches && groupStart(counts.batches, grouping) === counts.batches
    );
  }

  /**
   * Writes the pending chunks, adds their groups' jobs, saves the cursor; `final`: the listing
   * has ended (saved with the cursor, in one HSET).
   */
  async flush(final = false): Promise<void> {
    const { redis, stateKey, counts } = this.t;
    if (this.pending.length === 0) {
      if (final) await redis.hset(stateKey, { listingDone: '1', ...counts.saved() });
      return;
    }
    await this.countLabels();
    await Promise.all(this.pending.map((p) => this.writes(() => this.t.results.writeChunk(p.chunk))));
    await this.addJobs();
    await redis.hset(stateKey, {
      cursor: this.pending[this.pending.length - 1]!.after,
      ...counts.saved(),
      ...(final ? { listingDone: '1' } : {}),
    });
    this.pending = [];
    counts.report();
  }

  /** Tallies the pending chunks' labels; before the first chunk, checks them and writes run.json. */
  private async countLabels(): Promise<void> {
    const { tally } = this.t;
    this.pending.forEach((p) => tally?.count(p.chunk));
    if (this.runWritten) return;
    // Before the first chunk: an empty dataset, or labels that fit nothing, write nothing.
    tally?.check(this.t.counts.images, this.pending[0]!.chunk.keys[0]!);
    await this.t.results.writeRun(this.t.run);
    this.runWritten = true;
  }

  /**
   * One job per pending group: whole groups only (flush is called at group boundaries; the
   * listing's last group may be short).
   */
  private async addJobs(): Promise<void> {
    const groups = new Map<number, number>();
    for (const p of this.pending) {
      const first = groupStart(p.chunk.batch, this.t.grouping);
      groups.set(first, (groups.get(first) ?? 0) + 1);
    }
    let todo = [...groups];
    if (this.t.checkParts) {
      const { results } = this.t;
      const written = await Promise.all(
        todo.map(async ([first, count]) => {
          for (let b = first; b < first + count; b++) if (!(await results.partExists(b))) return false;
          return true;
        }),
      );
      todo = todo.filter((_, i) => !written[i]);
    }
    if (!todo.length) return;
    const out = await this.t.queue.addBulk(
      todo.map(([first, count]) => batchGroupJob(this.t.ref, first, count, this.t.secret)),
    );
    this.t.counts.added += out.length;
  }
}
