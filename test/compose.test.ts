/**
 * docker-compose.yml cannot be run where crgate is developed (no Docker engine), so this checks what
 * can be checked without one: the file parses, every crgate variable it names is one crgate reads, and
 * the optional `mail` profile renders the deploy/ templates with every placeholder they need.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ENV_VARS } from '@crgate/core';
import { DEPLOY, REPO } from './helpers/mail-stack.js';

interface Service {
  image?: string;
  profiles?: string[];
  environment?: Record<string, string>;
  command?: string[] | string;
}

const text = readFileSync(join(REPO, 'docker-compose.yml'), 'utf8');

describe('docker-compose.yml', () => {
  it('parses as YAML with the services the docs name', () => {
    const doc = parse(text) as { services: Record<string, Service> };
    expect(Object.keys(doc.services)).toEqual(expect.arrayContaining(['postgres', 'redis', 'migrate', 'ingest', 'worker', 'web', 'postfix', 'dovecot']));
    for (const name of ['postgres', 'redis', 'migrate', 'ingest', 'worker', 'web']) expect(doc.services[name]!.profiles).toBeUndefined();
    for (const name of ['postfix', 'dovecot']) expect(doc.services[name]!.profiles).toEqual(['mail']);
  });

  it('names only variables crgate reads', () => {
    const known = new Set(ENV_VARS.map((v) => v.name));
    const named = [...new Set(text.match(/\b(?:CRGATE_[A-Z0-9_]+|DATABASE_URL|REDIS_URL)\b/g) ?? [])];
    expect(named.length).toBeGreaterThan(5);
    expect(named.filter((n) => !known.has(n))).toEqual([]);
  });

  it('gives the mail services every placeholder of the templates they render', () => {
    const doc = parse(text) as { services: Record<string, Service> };
    for (const name of ['postfix', 'dovecot']) {
      const service = doc.services[name]!;
      const script = Array.isArray(service.command) ? service.command.join('\n') : String(service.command);
      const templates = [...script.matchAll(/\/deploy\/(\S+\.tmpl)/g)].map((m) => m[1]!);
      expect(templates.length, `${name} renders no template`).toBeGreaterThan(0);
      for (const template of templates) {
        const file = join(DEPLOY, template);
        expect(existsSync(file), `${name}: ${template} is not in deploy/`).toBe(true);
        const placeholders = [...readFileSync(file, 'utf8').matchAll(/\{\{([A-Z][A-Z0-9_]*)\}\}/g)].map((m) => m[1]!);
        const missing = [...new Set(placeholders)].filter((p) => !(p in (service.environment ?? {})));
        expect(missing, `${name} does not set these placeholders of ${template}`).toEqual([]);
      }
    }
  });
});
