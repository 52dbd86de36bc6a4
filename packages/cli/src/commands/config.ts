/** `crgate config`: validate and print the configuration. */
import type { Command } from 'commander';
import { ENV_VARS } from '@crgate/core';
import { configOrExit } from '../load-config.js';

export function registerConfig(program: Command): void {
  program
    .command('config')
    .description('validate the configuration and print it (the secret hidden)')
    .action(() => {
      const config = configOrExit();
      process.stdout.write(`${JSON.stringify({ ...config, secret: config.secret ? '(set)' : '(stored in database)' }, null, 2)}\n`);
      process.stdout.write(`\nEnvironment variables: ${ENV_VARS.map((v) => v.name).join(', ')}\n`);
    });
}
