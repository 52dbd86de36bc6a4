import { describe, expect, it } from 'vitest';
import { storableJson, storableText } from '../src/storable.js';

describe('mail text made fit for PostgreSQL', () => {
  it('drops NUL bytes, which text cannot hold', () => expect(storableText('a\u0000b\u0000')).toBe('ab'));
  it('replaces half of a surrogate pair, which jsonb refuses', () => expect(storableText('ab\ud83d')).toBe('ab\ufffd'));
  it('leaves ordinary text, emoji included, as it is', () => expect(storableText('Zoë 😀 日本語')).toBe('Zoë 😀 日本語'));
  it('cleans every string inside a JSON value, keys and numbers left alone', () => {
    const json = storableJson([{ symbol: 'AUTO_REPLY', weight: 0, detail: 'subject "x\ud83d" is\u0000 an automatic reply' }]);
    expect(JSON.parse(json)).toEqual([{ symbol: 'AUTO_REPLY', weight: 0, detail: 'subject "x\ufffd" is an automatic reply' }]);
    expect(json).not.toMatch(/\\u0000|\\ud83d/i);
  });
});
