/** `crgate config check`: validate the configuration and print it with secrets redacted. */
import type { Command } from 'commander';
import { ENV_VARS, type Config } from '@crgate/core';
import { configOrExit } from '../load-config.js';

/** Query parameters that carry a secret: libpq reads `password` and `sslpassword` from the URL too. */
const SECRET_PARAMS = new Set(['password', 'sslpassword']);

/** The URL with its password, in the user part or in the query, shown as `***`. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    // Rebuilt by hand: URLSearchParams would re-encode every other parameter too.
    if (u.search) {
      u.search = u.search
        .slice(1)
        .split('&')
        .map((pair) => {
          const name = pair.split('=')[0]!;
          let decoded = name;
          try {
            decoded = decodeURIComponent(name.replace(/\+/g, ' '));
          } catch {
            // a malformed escape: compared as written
          }
          return SECRET_PARAMS.has(decoded.trim().toLowerCase()) ? `${name}=***` : pair;
        })
        .join('&');
    }
    return u.toString();
  } catch {
    return '(not shown: not a URL)';
  }
}

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
    if (!opts.json) process.stdout.write(`\nconfiguration is valid. Environment variables: ${ENV_VARS.map((v) => v.name).join(', ')}\n`);
  };
  const config = program.command('config').description('the configuration');
  config
    .command('check', { isDefault: true })
    .description('validate the configuration (exit 78 naming each bad key) and print it with secrets redacted')
    .option('--json', 'print only the JSON')
    .action(check);
}
