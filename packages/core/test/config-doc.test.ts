/** Every environment variable is documented in README.md and docs/configuration.md, and nothing else is. */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { ENV_VARS } from '../src/index.js';

const documented = (file: string) =>
  new Set([...readFileSync(new URL(`../../../${file}`, import.meta.url), 'utf8').matchAll(/`((?:CRGATE|DATABASE|REDIS)_[A-Z_]+)`/g)].map((m) => m[1]!));

describe('configuration documentation', () => {
  for (const file of ['README.md', 'docs/configuration.md']) {
    it(`${file} names every variable`, () => {
      const names = documented(file);
      expect(ENV_VARS.map((v) => v.name).filter((n) => !names.has(n))).toEqual([]);
    });

    it(`${file} names no variable that does not exist`, () => {
      const known = new Set([...ENV_VARS.map((v) => v.name), 'CRGATE_CONFIG', 'CRGATE_TEST_PG_ADMIN', 'CRGATE_TEST_REDIS']);
      expect([...documented(file)].filter((n) => !known.has(n))).toEqual([]);
    });
  }
});
