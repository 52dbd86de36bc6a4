/** docs/log-events.md lists exactly the events the code logs. */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === 'node_modules' || name === 'dist' || name === 'test' ? [] : sources(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

const logged = new Set(
  sources(join(ROOT, 'packages')).flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/event: '([a-z_.]+)'/g)].map((m) => m[1]!)),
);
const documented = new Set([...readFileSync(join(ROOT, 'docs/log-events.md'), 'utf8').matchAll(/^\| `([a-z_.]+)` \|/gm)].map((m) => m[1]!));

describe('docs/log-events.md', () => {
  it('lists every event the code logs', () => {
    expect([...logged].filter((e) => !documented.has(e)).sort()).toEqual([]);
  });

  it('lists no event the code never logs', () => {
    expect([...documented].filter((e) => !logged.has(e)).sort()).toEqual([]);
  });
});
