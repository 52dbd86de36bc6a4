/** crgate.example.yaml is a valid configuration file that names every key and every variable. */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { ENV_VARS, loadConfig } from '@crgate/core';
import { createTestEnvironment } from './helpers/environment.js';
import { runCli } from './helpers/engine-process.js';

const FILE = new URL('../crgate.example.yaml', import.meta.url);
const text = readFileSync(FILE, 'utf8');

describe('crgate.example.yaml', () => {
  it('is valid and equal to the defaults', () => {
    expect(loadConfig({}, parse(text))).toEqual(loadConfig({}));
  });

  it('documents every variable, and every key either set or shown commented out', () => {
    for (const v of ENV_VARS) {
      expect(text, v.name).toContain(v.name);
      const key = v.path.split('.').at(-1)!;
      expect(text, v.path).toMatch(new RegExp(`^\\s*#?\\s*${key}:`, 'm'));
    }
  });

  it('is read by crgate config check through CRGATE_CONFIG, and a bad value names its key', async () => {
    const t = await createTestEnvironment();
    try {
      const ok = await runCli(['config', 'check', '--json'], { ...t.env, CRGATE_CONFIG: FILE.pathname });
      expect(ok.code, ok.stderr).toBe(0);
      const { writeFileSync, mkdtempSync } = await import('node:fs');
      const { join } = await import('node:path');
      const { tmpdir } = await import('node:os');
      const bad = join(mkdtempSync(join(tmpdir(), 'crgate-yaml-')), 'c.yaml');
      writeFileSync(bad, text.replace('perSenderPerHour: 5', 'perSenderPerHour: lots'));
      const r = await runCli(['config', 'check'], { ...t.env, CRGATE_CONFIG: bad });
      expect(r.code).toBe(78);
      expect(r.stderr).toContain('challenge.perSenderPerHour');
    } finally {
      await t.cleanup();
    }
  });
});
