/** Progress of a run, from Redis (batches done, statuses) and the results store (run.json, manifest). */
import type { Redis } from 'ioredis';
import { InputError, type RunJson, RunJsonSchema, openStore, runKeys } from '@overmap/shared';

export interface RunStatus {
  runId: string;
  results: string | null;
  totalBatches: number | null;
  doneBatches: number;
  images: number | null;
  statuses: Record<string, number>;
  startedMs: number | null;
  manifest: Record<string, unknown> | null;
  run: RunJson | null;
}

const looksLikeUri = (s: string) => s.includes('://') || s.includes('/') || s.startsWith('.');

export async function readStatus(redis: Redis, target: string): Promise<RunStatus> {
  let runId = target;
  let results: string | null = null;
  let run: RunJson | null = null;
  if (looksLikeUri(target)) {
    const store = openStore(target, {}, 'results URI');
    const raw = await store.getIfExists('run.json');
    if (!raw) throw new InputError(`no run.json under ${store.uri}: give a results URI written by overmap enqueue, or a run id`);
    run = RunJsonSchema.parse(JSON.parse(raw.toString('utf8')));
    runId = run.run_id;
    results = store.uri;
  }
  const keys = runKeys(runId);
  const [state, done, statuses] = await Promise.all([redis.hgetall(keys.state), redis.scard(keys.done), redis.hgetall(keys.statuses)]);
  results ??= state.results ?? null;
  if (!results && Object.keys(state).length === 0) throw new InputError(`no run ${runId} in Redis: give the results URI instead (overmap status s3://bucket/results/)`);
  let manifest: Record<string, unknown> | null = null;
  if (results) {
    const store = openStore(results, {}, 'results URI');
    if (!run) {
      const raw = await store.getIfExists('run.json');
      if (raw) run = RunJsonSchema.parse(JSON.parse(raw.toString('utf8')));
    }
    const m = await store.getIfExists('manifest.json');
    if (m) manifest = JSON.parse(m.toString('utf8')) as Record<string, unknown>;
  }
  const total = state.total !== undefined ? Number(state.total) : run?.batches ?? null;
  return {
    runId, results, totalBatches: total,
    doneBatches: manifest && total !== null ? total : done,
    images: state.images !== undefined ? Number(state.images) : run?.images ?? null,
    statuses: Object.fromEntries(Object.entries(statuses).map(([k, v]) => [k, Number(v)])),
    startedMs: state.started ? Number(state.started) : run ? Date.parse(run.created) : null,
    manifest, run,
  };
}
