/**
 * A Redis outage as two log lines, not one per reconnect attempt: ioredis and BullMQ emit an
 * error on every retry (about seven a second), which buried the logs in repeats. The first
 * error of an outage is logged (warn) with its cause; the rest are counted; when the connection
 * is ready again one line (info) says how long it lasted and how many errors it raised.
 */
import { logger as defaultLogger } from '@overmap/shared';

/** A connection failure (as opposed to an error of the worker's own). */
export const isConnectionError = (e: Error): boolean =>
  /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EPIPE|Connection is closed|connect ETIMEDOUT|Stream isn't writeable/i.test(
    `${(e as NodeJS.ErrnoException).code ?? ''} ${e.message}`,
  );

interface Log {
  warn(o: object, msg: string): void;
  info(o: object, msg: string): void;
}

export class OutageLog {
  private down: { since: number; errors: number } | null = null;

  constructor(private readonly log: Log = defaultLogger) {}

  /** An error from a Redis connection (ioredis's, or a BullMQ worker's): the first of an outage is logged. */
  error(source: string, e: Error): void {
    if (this.down) {
      this.down.errors++;
      return;
    }
    this.down = { since: Date.now(), errors: 1 };
    this.log.warn({ source, err: e.message }, 'redis unreachable: retrying (one line when it is back)');
  }

  /** The connection is ready: ends an outage, if one was under way. */
  ready(): void {
    if (!this.down) return;
    const { since, errors } = this.down;
    this.down = null;
    this.log.info({ seconds: Math.round((Date.now() - since) / 100) / 10, errors }, 'redis reachable again');
  }

  get outage(): boolean {
    return this.down !== null;
  }
}
