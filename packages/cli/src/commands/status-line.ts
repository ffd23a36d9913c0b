/** One line of run status, and the rate over the last minute from successive readings. */
import { isScored } from '@overmap/shared';
import { formatEta } from './progress-line';
import { type RunStatus, runVerdict } from './run-status';

export function imagesDone(s: RunStatus): number {
  return Object.values(s.statuses).reduce((a, b) => a + b, 0);
}

/** Images per second over a sliding window of readings (default: the last minute). */
export class RateMeter {
  private readonly samples: { t: number; n: number }[] = [];
  constructor(private readonly windowMs = 60_000) {}
  add(n: number, t = Date.now()): number {
    this.samples.push({ t, n });
    while (this.samples.length > 2 && t - this.samples[1]!.t >= this.windowMs) this.samples.shift();
    const first = this.samples[0]!;
    return t > first.t ? (n - first.n) / ((t - first.t) / 1000) : 0;
  }
}

/** A finished run's rate, from its own timestamps (not the clock now). */
export function finalRate(s: RunStatus): number | null {
  const m = s.manifest;
  if (!m) return null;
  const secs = (Date.parse(m.finished) - Date.parse(m.created)) / 1000;
  return secs > 0 ? m.counts.total / secs : null;
}

export function statusLine(s: RunStatus, rate: number): string {
  const total = s.totalBatches;
  const v = runVerdict(s);
  const pct = total ? ` (${((100 * s.doneBatches) / total).toFixed(0)}%)` : '';
  const r = finalRate(s) ?? rate;
  const eta =
    v.state === 'running' && total && rate > 0 && s.images
      ? formatEta((((total - s.doneBatches) / total) * s.images) / rate)
      : '–';
  const images =
    Object.entries(s.statuses)
      .filter(([k]) => !isScored(k))
      .map(([k, n]) => `${k} ${n}`)
      .join(', ') || 'none';
  const parts = [
    `${s.runId}: ${s.doneBatches}/${total ?? '?'} batches${pct} done`,
    `${s.failed.length} failed`,
    `${r.toFixed(1)} images/s${s.manifest ? ' (whole run)' : ''}`,
  ];
  if (!s.manifest)
    parts.push(`ETA ${eta}`, `queue ${s.queue.waiting} waiting / ${s.queue.active} active`, `${s.workers} worker(s)`);
  parts.push(`unreadable images: ${images}`);
  const tail = s.manifest
    ? 'finished'
    : v.state === 'stuck'
      ? `STUCK: ${v.why}`
      : total === null
        ? 'listing in progress'
        : 'running';
  return `${parts.join(', ')}; ${tail}`;
}
