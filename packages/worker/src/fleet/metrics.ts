/**
 * Prometheus metrics (prom-client) and the health endpoints on one port:
 * /metrics, /healthz (the process is alive), /readyz (Redis answers and the worker is
 * taking jobs).
 */
import * as http from 'node:http';
import { ServiceError } from '@overmap/shared';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  images: Counter<'status'>;
  batches: Counter<'outcome'>;
  stageSeconds: Histogram<'stage'>;
  queueDepth: Gauge<'state'>;
}

export function createMetrics(queueCounts?: () => Promise<Record<string, number>>): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const images = new Counter({
    name: 'overmap_images_total',
    help: 'Images scored, by record status',
    labelNames: ['status'] as const,
    registers: [registry],
  });
  const batches = new Counter({
    name: 'overmap_batches_total',
    help: 'Batch jobs (each a group of batches, OVERMAP_JOB_IMAGES), by outcome',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const stageSeconds = new Histogram({
    name: 'overmap_stage_seconds',
    help: 'Seconds per batch stage',
    labelNames: ['stage'] as const,
    registers: [registry],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
  });
  const queueDepth = new Gauge({
    name: 'overmap_queue_jobs',
    help: 'Jobs in the batch queue, by state',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      if (!queueCounts) return;
      try {
        for (const [state, n] of Object.entries(await queueCounts())) this.set({ state }, n);
      } catch {
        /* Redis down: leave the last values */
      }
    },
  });
  return { registry, images, batches, stageSeconds, queueDepth };
}

/** Listens on host:port (0 = a free port); a port in use is one line that says what to do. */
export async function serveMetrics(
  metrics: Metrics,
  port: number,
  host: string,
  ready: () => Promise<boolean>,
): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    void (async () => {
      if (req.url === '/metrics') {
        res.writeHead(200, { 'content-type': metrics.registry.contentType });
        res.end(await metrics.registry.metrics());
      } else if (req.url === '/healthz') {
        res.writeHead(200).end('ok\n');
      } else if (req.url === '/readyz') {
        const ok = await ready().catch(() => false);
        res.writeHead(ok ? 200 : 503).end(ok ? 'ready\n' : 'not ready\n');
      } else {
        res.writeHead(404).end();
      }
    })().catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        e.code === 'EADDRINUSE'
          ? new ServiceError(
              `metrics port ${port} on ${host} is in use (another worker on this host?): set METRICS_PORT=0 to pick a free port, or run the worker with --no-metrics`,
            )
          : new ServiceError(
              `cannot serve metrics on ${host}:${port} (${e.code ?? e.message}): set METRICS_HOST / METRICS_PORT, or run the worker with --no-metrics`,
            ),
      ),
    );
    server.listen(port, host, () => resolve());
  });
  return server;
}
