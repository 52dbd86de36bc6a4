/**
 * Reads the configuration at the edge: the optional JSON file named by CRGATE_CONFIG, then the
 * environment. Problems are reported with the key and the reason, and the process exits non-zero
 * before anything is opened.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError, loadConfig, type Config } from '@crgate/core';

export const EXIT_CONFIG = 78; // EX_CONFIG from sysexits.h

export function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`CRGATE_CONFIG: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`]);
  }
  // YAML (.yaml, .yml) allows the comments an operator wants in a configuration file; JSON otherwise.
  if (/\.ya?ml$/i.test(path)) {
    try {
      return parseYaml(text) ?? {};
    } catch (err) {
      throw new ConfigError([`CRGATE_CONFIG: ${path} is not valid YAML: ${(err as Error).message.split('\n')[0]}`]);
    }
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ConfigError([`CRGATE_CONFIG: ${path} is not valid JSON: ${(err as Error).message}`]);
  }
}

export function configFromProcess(env: NodeJS.ProcessEnv = process.env): Config {
  const file = env.CRGATE_CONFIG ? readConfigFile(env.CRGATE_CONFIG) : undefined;
  return loadConfig(env, file);
}

/** Loads the configuration or prints why it is wrong and exits. */
export function configOrExit(): Config {
  try {
    return configFromProcess();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`crgate: ${err.message}\n`);
      process.exit(EXIT_CONFIG);
    }
    throw err;
  }
}
