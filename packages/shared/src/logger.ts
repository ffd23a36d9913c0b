/** JSON logs (pino) to stderr, so that stdout stays for command output. */
import pino from 'pino';
import { configValue } from './config';

/** The level, read as the module loads: a bad LOG_LEVEL cannot stop an import, so it logs at info
 *  here and loadConfig, which every command runs first, refuses it in one line. */
function level(): string {
  try {
    return configValue('LOG_LEVEL');
  } catch {
    return 'info';
  }
}

export const logger = pino({ level: level(), base: { pid: process.pid } }, pino.destination(2));
export type Logger = typeof logger;
