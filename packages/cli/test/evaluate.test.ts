/** How `crgate eval` sorts ham into the rows of its table: person-to-person, bulk, list. */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseHeaders } from '@crgate/ingest';
import type { Config } from '@crgate/core';
import { formatEvaluation, kindOf, type EvalRow } from '../src/evaluate.js';

const fixture = (path: string) => {
  const raw = readFileSync(new URL(`../../../test/fixtures/${path}`, import.meta.url));
  return kindOf(parseHeaders(raw).headers, raw);
};

describe('the kinds of ham crgate eval reports apart', () => {
  it('counts a note from one person to another as person-to-person', () => expect(fixture('bob-to-alice.eml')).toBe('personal'));
  it('counts a mailing-list post as list mail', () => expect(fixture('corpus/list-post.eml')).toBe('list'));
  it('counts a newsletter that tells how to unsubscribe as bulk mail, not person-to-person', () => expect(fixture('corpus/newsletter-offer.eml')).toBe('bulk'));
  it('counts a message with List-Unsubscribe and nothing else of a list as bulk', () => {
    const raw = Buffer.from('From: shop@example.org\r\nList-Unsubscribe: <mailto:u@example.org>\r\nSubject: Offers\r\n\r\nHello\r\n');
    expect(kindOf(parseHeaders(raw).headers, raw)).toBe('bulk');
  });
});

describe('the mistakes crgate eval names by file', () => {
  const config = { classifier: { hamCutoff: 0.2, spamCutoff: 0.9 } } as Config;
  const row = (file: string, truth: 'ham' | 'spam', decision: EvalRow['decision'], score: number): EvalRow => ({ file, truth, kind: 'personal', decision, verdict: 'unsure', score });

  it('lists the ham it would discard and the spam it would deliver, with their scores', () => {
    const text = formatEvaluation(
      [row('h/kept.eml', 'ham', 'deliver', 0.01), row('h/lost.eml', 'ham', 'discard', 0.97), row('s/in.eml', 'spam', 'deliver', 0.12), row('s/out.eml', 'spam', 'discard', 1)],
      config,
    );
    expect(text).toContain('ham discarded (1):\n  h/lost.eml  personal, score 0.9700');
    expect(text).toContain('spam delivered (1):\n  s/in.eml  personal, score 0.1200');
    expect(text).not.toContain('kept.eml');
    expect(text).not.toContain('out.eml');
  });

  it('says nothing of mistakes it did not make', () => {
    const text = formatEvaluation([row('h/kept.eml', 'ham', 'deliver', 0.01), row('s/out.eml', 'spam', 'discard', 1)], config);
    expect(text).not.toMatch(/ham discarded|spam delivered/);
  });

  it('lists twenty files of a kind and counts the rest', () => {
    const rows = Array.from({ length: 23 }, (_, i) => row(`h/${i}.eml`, 'ham', 'discard', 0.95));
    const text = formatEvaluation(rows, config);
    expect(text).toContain('ham discarded (23):');
    expect(text).toContain('h/19.eml');
    expect(text).not.toContain('h/20.eml');
    expect(text).toContain('… and 3 more (--json lists every message)');
  });
});
