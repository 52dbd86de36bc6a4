import { describe, expect, it } from 'vitest';
import { domainAndParents, isAddress, isSameOrSubdomain, normalizeAddress } from '../src/index.js';

describe('addresses', () => {
  it('compares domains case-insensitively', () => {
    expect(normalizeAddress('alice@EXAMPLE.Test')).toBe('alice@example.test');
  });
  it('treats alice+tag@ as alice@', () => {
    expect(normalizeAddress('Alice+Lists@example.test')).toBe('alice@example.test');
  });
  it('keeps a local part that starts with +', () => {
    expect(normalizeAddress('+1@example.test')).toBe('+1@example.test');
  });
  it('strips angle brackets and a trailing root dot', () => {
    expect(normalizeAddress('<bob@remote.test.>')).toBe('bob@remote.test');
  });
  it('recognises addresses and refuses junk', () => {
    expect(isAddress('alice@example.test')).toBe(true);
    expect(isAddress('crgate@localhost')).toBe(true);
    expect(isAddress('alice')).toBe(false);
    expect(isAddress('a b@example.test')).toBe(false);
    expect(isAddress('alice@-bad.test')).toBe(false);
  });
  it('refuses control characters in the local part, NUL above all', () => {
    expect(isAddress('a\u0000b@example.test')).toBe(false);
    expect(isAddress('a\u0007b@example.test')).toBe(false);
    expect(isAddress('a\u007fb@example.test')).toBe(false);
    expect(isAddress('zoë@example.test')).toBe(true);
  });
  it('lists a domain and its parents', () => {
    expect(domainAndParents('a.b.example.org')).toEqual(['a.b.example.org', 'b.example.org', 'example.org', 'org']);
  });
  it('knows subdomains', () => {
    expect(isSameOrSubdomain('cr.example.org', 'example.org')).toBe(true);
    expect(isSameOrSubdomain('badexample.org', 'example.org')).toBe(false);
  });
});
