/**
 * Machine mail from senders that authenticate: SPF passes for the envelope domain and From: is
 * aligned with it, the message is addressed to the recipient, so only a recognising rule keeps the
 * challenge away. Each fixture is what the named software sends (test/fixtures/machine-mail/README.md
 * says where each format comes from); test/machine-mail-dns.test.ts sends the same files through
 * LMTP with a DNS that makes SPF pass.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { decide, domainOf, type ContentVerdict, type PolicySettings, type RecipientFacts } from '@crgate/core';
import { envelopeSenderOf, parseHeaders, parseMessage } from '@crgate/ingest';

const policy: PolicySettings = { challengeRequiresAuth: true, localDomains: new Set(['example.test']) };
const alice: RecipientFacts = {
  userId: 1,
  address: 'alice@example.test',
  addresses: ['alice@example.test', 'a.smith@example.test'],
  challengesEnabled: true,
  senderOptedOut: false,
};

/** Decided as the ingest decides, with SPF pass for the envelope sender's domain. */
function decideAuthenticated(file: string, opts: { mailFrom?: string; content?: ContentVerdict } = {}) {
  const raw = readFileSync(new URL(`./fixtures/${file}`, import.meta.url));
  const mailFrom = opts.mailFrom ?? envelopeSenderOf(parseHeaders(raw).headers);
  const { facts } = parseMessage(raw, { mailFrom });
  const domain = domainOf(facts.mailFrom);
  facts.auth = { spf: { result: 'pass', domain }, dkim: [], dmarc: { result: 'none' }, arc: { result: 'none' }, clientKnown: true };
  facts.senderDomainRoutable = true;
  return decide(facts, { ...alice, content: opts.content }, policy);
}
const symbols = (d: { reasons: Array<{ symbol: string }> }) => d.reasons.map((r) => r.symbol);

describe('authenticated machine mail', () => {
  it('still challenges an authenticated person (the control)', () => {
    const d = decideAuthenticated('bob-to-alice.eml', { mailFrom: 'bob@remote.test' });
    expect(d.action).toBe('challenge');
  });

  it('does not challenge DMARC aggregate reports (RFC 7489 §7.2.1.1 subject)', () => {
    for (const file of ['dmarc-aggregate-microsoft.eml', 'dmarc-aggregate-mailru.eml']) {
      const d = decideAuthenticated(`machine-mail/${file}`);
      expect(symbols(d), file).toContain('BOUNCE_SUBJECT');
      expect(d.action, file).toBe('quarantine');
    }
  });

  it("does not challenge mail whose envelope sender is the recipient's own address, even with SPF pass", () => {
    for (const mailFrom of ['alice@example.test', 'Alice+notes@Example.test', 'a.smith@example.test']) {
      const d = decideAuthenticated('machine-mail/self-addressed.eml', { mailFrom });
      expect(symbols(d), mailFrom).toContain('SENDER_IS_RECIPIENT');
      expect(d.action, mailFrom).toBe('quarantine');
    }
  });

  it('still delivers an authenticated note to oneself that the classifier calls ham', () => {
    const ham: ContentVerdict = { verdict: 'ham', score: 0.01, spamClues: [], hamClues: [] };
    expect(decideAuthenticated('machine-mail/self-addressed.eml', { content: ham }).action).toBe('deliver');
  });

  it("does not challenge an ESP's bounce-processing return path", () => {
    for (const file of ['postmark-transactional.eml', 'sparkpost-transactional.eml']) {
      const d = decideAuthenticated(`machine-mail/${file}`);
      expect(symbols(d), file).toContain('NOREPLY_SENDER');
      expect(d.action, file).toBe('quarantine');
    }
  });

  it("does not challenge a VERP return path that names the recipient's address", () => {
    for (const mailFrom of ['news-1234-alice=example.test@mail.shop.test', 'ab12.cd34.a.smith=example.test@bnc.shop.test']) {
      const d = decideAuthenticated('machine-mail/postmark-transactional.eml', { mailFrom });
      expect(symbols(d), mailFrom).toContain('NOREPLY_SENDER');
      expect(d.action, mailFrom).toBe('quarantine');
    }
  });

  it('reads the address behind a BATV tag, and still challenges a person behind one', () => {
    expect(decideAuthenticated('machine-mail/postmark-transactional.eml', { mailFrom: 'prvs=1234abcd5=noreply@shop.test' }).action).toBe('quarantine');
    expect(decideAuthenticated('machine-mail/postmark-transactional.eml', { mailFrom: 'prvs=1234abcd5=jane@shop.test' }).action).toBe('challenge');
    // "bounce" only as a word: a person called Bouncer is still asked.
    expect(decideAuthenticated('machine-mail/postmark-transactional.eml', { mailFrom: 'jane.bouncer@shop.test' }).action).toBe('challenge');
  });
});
