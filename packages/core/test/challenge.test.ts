import { describe, expect, it } from 'vitest';
import {
  ChallengeTemplateError,
  compileChallengeTemplate,
  composeChallenge,
  deriveChallengeToken,
  hashToken,
  isWellFormedToken,
  newNonce,
  sanitizeSubject,
} from '../src/index.js';

const input = {
  from: 'crgate@example.org',
  to: 'bob@remote.test',
  recipient: 'alice@example.org',
  originalSubject: 'Lunch?',
  originalMessageId: '<m1@remote.test>',
  link: 'https://example.org/c/' + 'A'.repeat(43),
  messageId: '<cr-1@example.org>',
};

describe('challenge composition', () => {
  it('follows the standard form', () => {
    const c = composeChallenge(input);
    expect(c.envelope).toEqual({ from: '', to: 'bob@remote.test' });
    expect(c.subject).toBe('C/R: please confirm your message: Lunch?');
    expect(c.headers['Auto-Submitted']).toBe('auto-replied (challenge)');
    expect(c.inReplyTo).toBe('<m1@remote.test>');
    expect(c.references).toBe('<m1@remote.test>');
    expect(Buffer.byteLength(c.text)).toBeLessThanOrEqual(512);
    expect(c.text.match(/https?:\/\//g)).toHaveLength(1);
    expect(c.text).toContain(input.link);
  });

  it('removes line breaks and control characters from the original subject and keeps 60 characters', () => {
    const c = composeChallenge({ ...input, originalSubject: 'Hello\r\nBcc: victim@example.com\u0007 ' + 'x'.repeat(100) });
    expect(c.subject).not.toMatch(/[\r\n\u0007]/);
    expect(c.subject.slice('C/R: please confirm your message: '.length)).toHaveLength(60);
  });

  it('counts characters, not bytes, and never splits one', () => {
    expect(Array.from(sanitizeSubject('é'.repeat(70)))).toHaveLength(60);
    expect(sanitizeSubject('😀'.repeat(61))).toBe('😀'.repeat(60));
  });

  it('omits In-Reply-To when the original had no usable Message-ID', () => {
    const c = composeChallenge({ ...input, originalMessageId: 'garbage with spaces' });
    expect(c.inReplyTo).toBeUndefined();
  });

  it('leaves no encoded word in the subject: the ingest decoded one layer, a second would reach the sender decoded, CR/LF and all', () => {
    // What the ingest stores for `Subject: =?utf-8?B?<base64 of "=?utf-8?B?<base64 of "Hi\r\nBcc: x">?=">?=`.
    const once = `=?utf-8?B?${Buffer.from('Hi\r\nBcc: victim@evil.test').toString('base64')}?=`;
    const c = composeChallenge({ ...input, originalSubject: once });
    expect(c.subject).not.toContain('=?');
    expect(c.subject.startsWith('C/R: please confirm your message: ')).toBe(true);
  });

  it('omits In-Reply-To for a Message-ID with 8-bit text or too long for one header line', () => {
    for (const id of ['<ü@remote.test>', `<${'x'.repeat(2000)}@remote.test>`]) {
      const c = composeChallenge({ ...input, originalMessageId: id });
      expect(c.inReplyTo, id.slice(0, 20)).toBeUndefined();
      expect(c.references, id.slice(0, 20)).toBeUndefined();
    }
    expect(composeChallenge({ ...input, originalMessageId: '<a.b+c$d=e@[127.0.0.1]>' }).inReplyTo).toBe('<a.b+c$d=e@[127.0.0.1]>');
  });

  it('writes German for a recipient whose language is de, English for an unknown language', () => {
    expect(composeChallenge({ ...input, language: 'de' }).subject).toBe('C/R: Bitte bestätigen Sie Ihre Nachricht: Lunch?');
    expect(composeChallenge({ ...input, language: 'de' }).text).toContain('Bitte öffnen\r\nSie diesen Link');
    expect(composeChallenge({ ...input, language: 'xx' }).subject).toBe('C/R: please confirm your message: Lunch?');
  });

  it('refuses a template with a second link', () => {
    const t = compileChallengeTemplate('{{link}} and http://evil.example/');
    expect(() => composeChallenge(input, t)).toThrow(ChallengeTemplateError);
  });

  it('refuses a template without the link', () => {
    expect(() => composeChallenge(input, compileChallengeTemplate('no link here'))).toThrow(/exactly one URL/);
  });

  it('refuses a body over 512 bytes', () => {
    expect(() => composeChallenge(input, compileChallengeTemplate(`{{link}}\n${'x'.repeat(600)}`))).toThrow(/more than 512/);
  });
});

describe('challenge tokens', () => {
  it('have at least 128 random bits behind them and a fixed shape', () => {
    const a = deriveChallengeToken('s'.repeat(32), 'id', newNonce());
    const b = deriveChallengeToken('s'.repeat(32), 'id', newNonce());
    expect(a).not.toBe(b);
    expect(isWellFormedToken(a)).toBe(true);
    expect(Buffer.from(newNonce(), 'base64url')).toHaveLength(16);
  });
  it('are rebuilt identically from the secret, the id and the nonce', () => {
    const nonce = newNonce();
    expect(deriveChallengeToken('k'.repeat(32), 'c1', nonce)).toBe(deriveChallengeToken('k'.repeat(32), 'c1', nonce));
    expect(deriveChallengeToken('k'.repeat(32), 'c1', nonce)).not.toBe(deriveChallengeToken('j'.repeat(32), 'c1', nonce));
  });
  it('are stored as a SHA-256 hash', () => {
    expect(hashToken('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
  it('refuse malformed input', () => {
    expect(isWellFormedToken('../../etc/passwd')).toBe(false);
    expect(isWellFormedToken('A'.repeat(44))).toBe(false);
  });
});
