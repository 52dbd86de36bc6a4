/** How `crgate eval` sorts ham into the rows of its table: person-to-person, bulk, list. */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseHeaders } from '@crgate/ingest';
import { kindOf } from '../src/evaluate.js';

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
