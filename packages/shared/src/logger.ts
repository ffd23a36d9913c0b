/** JSON logs (pino) to stderr, so that stdout stays for command output. */
import pino from 'pino';
import { configValue } from './config';

export const logger = pino({ level: configValue('LOG_LEVEL'), base: { pid: process.pid } }, pino.destination(2));
export type Logger = typeof logger;
