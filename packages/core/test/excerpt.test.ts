import { describe, expect, it } from 'vitest';
import { excerpt } from '../src/rules/excerpt.js';

describe('an excerpt of mail text for a reason', () => {
  it('keeps text that fits as it is', () => expect(excerpt('out of office', 60)).toBe('out of office'));
  it('cuts longer text at the limit', () => expect(excerpt('abcdef', 4)).toBe('abcd'));
  it('leaves out a character the limit would cut in two', () => {
    const cut = excerpt('abc😀def', 4);
    expect(cut).toBe('abc');
    expect(cut.isWellFormed()).toBe(true);
  });
  it('keeps a character that ends exactly at the limit', () => expect(excerpt('abc😀def', 5)).toBe('abc😀'));
});
