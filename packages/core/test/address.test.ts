import { describe, expect, it } from 'vitest';
import { domainAndParents, domainOf, isAddress, isSameOrSubdomain, normalizeAddress, parseListValue } from '../src/index.js';

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
  it('spells an internationalised domain one way, its A-labels, whichever form it came in', () => {
    // smtp-server hands the ingest `jo@bücher.example` for the MTA's `jo@xn--bcher-kva.example`.
    expect(normalizeAddress('Jo@Bücher.Example')).toBe('jo@xn--bcher-kva.example');
    expect(normalizeAddress('jo@xn--bcher-kva.example')).toBe('jo@xn--bcher-kva.example');
    expect(domainOf('bob@bücher.example.')).toBe('xn--bcher-kva.example');
    expect(isSameOrSubdomain('mail.bücher.example', 'xn--bcher-kva.example')).toBe(true);
    // The local part is left as it is: only the domain has a second spelling.
    expect(normalizeAddress('jörg@bücher.example')).toBe('jörg@xn--bcher-kva.example');
  });
  it('accepts a Unicode domain where an address or list domain is typed, and keeps its A-labels', () => {
    expect(isAddress('jo@bücher.example')).toBe(true);
    expect(isAddress('jo@bü cher.example')).toBe(false);
    expect(parseListValue('Bücher.Example')).toEqual({ kind: 'domain', value: 'xn--bcher-kva.example' });
    expect(parseListValue('@xn--bcher-kva.example')).toEqual({ kind: 'domain', value: 'xn--bcher-kva.example' });
  });
  it('reads a quoted local part that needs no quotes as the plain one, +tag and case included', () => {
    // RFC 5321 4.1.2: "bob"@ and bob@ are one mailbox; the quotes must not make a second sender.
    expect(normalizeAddress('"bob"@remote.test')).toBe('bob@remote.test');
    expect(normalizeAddress('"Bob+x"@Remote.Test')).toBe('bob@remote.test');
    expect(normalizeAddress('"b\\ob.smith"@remote.test')).toBe('bob.smith@remote.test');
  });
  it('keeps the quotes a local part needs, escaped one way', () => {
    expect(normalizeAddress('"john doe"@remote.test')).toBe('"john doe"@remote.test');
    expect(normalizeAddress('"john\\ doe"@remote.test')).toBe('"john doe"@remote.test');
    expect(normalizeAddress('"\\"or\\"1=1--"@remote.test')).toBe('"\\"or\\"1=1--"@remote.test');
    expect(normalizeAddress('"back\\\\slash%_"@remote.test')).toBe('"back\\\\slash%_"@remote.test');
  });
  it('drops a +tag inside quotes too, as Postfix does before its recipient lookup', () => {
    // Postfix accepts these for alice (recipient_delimiter = +): crgate must not refuse them.
    expect(normalizeAddress('"alice+(x)"@example.test')).toBe('alice@example.test');
    expect(normalizeAddress('"Alice+a b"@example.test')).toBe('alice@example.test');
    expect(normalizeAddress('"a+b;c"@remote.test')).toBe('a@remote.test');
    expect(normalizeAddress('"john doe+x"@remote.test')).toBe('"john doe"@remote.test');
    expect(normalizeAddress('"a\\"+x"@remote.test')).toBe('"a\\""@remote.test');
    // As unquoted: a + at the start is no tag.
    expect(normalizeAddress('"+x y"@remote.test')).toBe('"+x y"@remote.test');
  });
  it('reads a UTF-8 local part in its composed form, however its accents were written', () => {
    expect(normalizeAddress('Jo\u0308rg@remote.test')).toBe(normalizeAddress('jörg@remote.test'));
    expect(normalizeAddress('jo\u0308rg@remote.test')).toBe('j\u00f6rg@remote.test');
  });
});
