/** The one pino logger of a crgate process; roles and components get children of it. */
import { pino } from 'pino';
import type { Logger } from '@crgate/core';

export function createLogger(level: string, name = 'crgate'): Logger {
  return pino({
    name,
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  }) as unknown as Logger;
}
