/** `overmap worker`: process batch jobs until stopped (SIGTERM: finish the current batch, exit 0). */
import { startWorker } from '@overmap/worker';
import { TOOL_VERSION } from '../version';
import { configAndRedis } from './common';

export interface WorkerFlags {
  concurrency?: number;
  exitWhenIdle?: boolean;
  metrics: boolean;
  unsignedWarning: boolean;
}

export async function workerCommand(f: WorkerFlags): Promise<void> {
  const { config, redis } = await configAndRedis();
  redis.disconnect();
  const w = await startWorker({
    config,
    concurrency: f.concurrency,
    exitWhenIdle: f.exitWhenIdle,
    toolVersion: TOOL_VERSION,
    metricsPort: f.metrics ? undefined : null,
    announceUnsigned: f.unsignedWarning,
  });
  // Started by overmap run: never outlive it (a parent killed outright closes the channel).
  if (process.send) process.once('disconnect', () => void w.stop('parent process gone'));
  await w.done;
  process.exit(0);
}
