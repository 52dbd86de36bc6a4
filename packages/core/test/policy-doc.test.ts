/** docs/policy.md documents every rule and symbol of the registry, in order, and nothing else. */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { RULES } from '../src/index.js';

const doc = readFileSync(new URL('../../../docs/policy.md', import.meta.url), 'utf8');
const rows = doc
  .split('\n')
  .filter((line) => /^\| \d+ \| `[a-z-]+` \|/.test(line))
  .map((line) => {
    const cells = line.split('|').map((c) => c.trim());
    return { order: Number(cells[1]), id: cells[2]!.replace(/`/g, ''), symbols: [...cells[3]!.matchAll(/`([A-Z_*]+)`/g)].map((m) => m[1]!) };
  });

describe('docs/policy.md', () => {
  it('lists every rule of the registry, in registry order', () => {
    expect(rows.map((r) => r.id)).toEqual(RULES.map((r) => r.id));
    expect(rows.map((r) => r.order)).toEqual(RULES.map((_r, i) => i + 1));
  });

  it('names exactly the symbols each rule can give', () => {
    for (const rule of RULES) {
      expect(rows.find((r) => r.id === rule.id)?.symbols, rule.id).toEqual([...rule.symbols]);
    }
  });
});
