/** JSON logs (pino) to stderr, so that stdout stays for command output. */
import pino from 'pino';

export const logger = pino({ level: process.env.LOG_LEVEL ?? 'info', base: { pid: process.pid } }, pino.destination(2));
export type Logger = typeof logger;
