/** `crgate config check`: validate the configuration and print it with secrets redacted. */
import type { Command } from 'commander';
import { ENV_VARS, type Config } from '@crgate/core';
import { configOrExit } from '../load-config.js';
import { redactUrl } from '../cli-helpers.js';

export function redactConfig(config: Config): Record<string, unknown> {
  return {
    ...config,
    databaseUrl: redactUrl(config.databaseUrl),
    redisUrl: redactUrl(config.redisUrl),
    ...(config.redisSentinelPassword ? { redisSentinelPassword: '(set, hidden)' } : {}),
    secret: config.secret ? '(set, hidden)' : '(not set: generated once and stored in the database)',
    scorers: { ...config.scorers, ...(config.scorers.rspamdPassword ? { rspamdPassword: '(set, hidden)' } : {}) },
  };
}

export function registerConfig(program: Command): void {
  const check = (opts: { json?: boolean }) => {
    const config = configOrExit();
    const shown = redactConfig(config);
    process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
    if (!opts.json) {
      // Which of the variables crgate reads are set here: an operator checking a unit or container
      // file wants to see what it actually passed, not the whole list (docs/configuration.md has that).
      // An empty variable counts as unset (load.ts): listing it as set would contradict the output
      // above, e.g. CRGATE_SECRET= shown "set" next to a secret "not set: generated".
      const set = ENV_VARS.map((v) => v.name).filter((name) => process.env[name] !== undefined && process.env[name] !== '');
      const empty = ENV_VARS.map((v) => v.name).filter((name) => process.env[name] === '');
      process.stdout.write(
        `\nconfiguration is valid. Set in the environment: ${set.length ? set.join(', ') : 'none'} (of the ${ENV_VARS.length} variables crgate reads; see docs/configuration.md)\n`,
      );
      if (empty.length) process.stdout.write(`Empty, so not set: ${empty.join(', ')}\n`);
    }
  };
  const config = program.command('config').description('the configuration');
  config
    .command('check', { isDefault: true })
    .description('validate the configuration (exit 78 naming each bad key) and print it with secrets redacted')
    .option('--json', 'print only the JSON')
    .action(check);
}
