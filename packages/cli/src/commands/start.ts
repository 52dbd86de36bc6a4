/** `crgate start` and `crgate migrate`: run the roles; apply migrations. */
import type { Command } from 'commander';
import { ConfigError } from '@crgate/core';
import { configOrExit, EXIT_CONFIG } from '../load-config.js';
import { createLogger } from '../logger.js';
import { parseRoles, startEngine } from '../engine.js';
import { fail, openCommandDatabase } from '../cli-helpers.js';

/**
 * The longest a stop may take before the process exits anyway: LMTP sessions get 30 s, running jobs
 * 70 s (worker.ts), and a container runtime kills at its own grace period (90 s in docker-compose.yml).
 */
const STOP_DEADLINE_MS = 85_000;

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('run the engine: LMTP ingest, worker and web site (all by default)')
    .option('-r, --role <roles>', 'ingest, worker, web or all; several separated by commas', 'all')
    .action(async (opts: { role: string }) => {
      const config = configOrExit();
      let roles;
      try {
        roles = parseRoles(opts.role);
      } catch (err) {
        fail((err as Error).message, 64);
      }
      const logger = createLogger(config.logLevel);
      let engine;
      try {
        engine = await startEngine(config, roles, logger);
      } catch (err) {
        if (err instanceof ConfigError) fail(err.message, EXIT_CONFIG);
        logger.error({ event: 'engine.start_failed', err }, `cannot start: ${(err as Error).message}`);
        process.exit(1);
      }
      let stopping = false;
      const shutdown = (signal: string) => {
        if (stopping) {
          // The operator asked twice: do not make them reach for kill -9. What was not finished is
          // retried (the MTA resends unanswered mail, jobs run again once their lock runs out).
          logger.warn({ event: 'engine.stop_forced', signal }, `${signal} again: exiting now`);
          process.exit(1);
        }
        stopping = true;
        logger.info({ event: 'engine.stopping', signal }, `${signal}: finishing in-flight work`);
        setTimeout(() => {
          logger.error({ event: 'engine.stop_timeout', ms: STOP_DEADLINE_MS }, 'still stopping after the deadline: exiting now');
          process.exit(1);
        }, STOP_DEADLINE_MS).unref();
        engine.stop().then(
          () => process.exit(0),
          (err: unknown) => {
            logger.error({ event: 'engine.stop_failed', err }, 'unclean stop');
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', () => shutdown('SIGTERM'));
      process.on('SIGINT', () => shutdown('SIGINT'));
    });

  program
    .command('migrate')
    .description('create the database if missing and apply pending migrations')
    .action(async () => {
      const config = configOrExit();
      const logger = createLogger(config.logLevel);
      const db = await openCommandDatabase(config, logger, { max: 1, create: true });
      await db.end();
    });
}
