/** One progress line: bar, done/total, rate, ETA, failures. */
import cliProgress from 'cli-progress';

export function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  return s >= 3600
    ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
    : s >= 60
      ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
      : `${s}s`;
}

export function createBar(): cliProgress.SingleBar {
  return new cliProgress.SingleBar(
    {
      format: '{bar} {value}/{total} batches | {images} images | {rate} images/s | ETA {etaText} | {failures}',
      hideCursor: true,
      clearOnComplete: false,
      stream: process.stderr,
      noTTYOutput: true,
      notTTYSchedule: 5000,
    },
    cliProgress.Presets.shades_classic,
  );
}
