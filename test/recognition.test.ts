/**
 * Real messages that must never be challenged, each recognised by its own named rule: the message is
 * parsed as the ingest parses it and decided by the policy in core (DNS checks aside: authentication
 * is left unknown, and the evidence requirement off, so that only the recognising rule holds it).
 * Fixtures are copied from the shared corpus; test/fixtures/corpus/CREDITS.md names their sources.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { decide, type PolicySettings, type RecipientFacts } from '@crgate/core';
import { envelopeSenderOf, parseHeaders, parseMessage } from '@crgate/ingest';

const policy: PolicySettings = { challengeRequiresAuth: false, localDomains: new Set(['example.test']) };
const alice: RecipientFacts = {
  userId: 1,
  address: 'alice@example.test',
  addresses: ['alice@example.test'],
  challengesEnabled: true,
  senderOptedOut: false,
};

function decideFixture(name: string) {
  const raw = readFileSync(new URL(`./fixtures/corpus/${name}`, import.meta.url));
  const { facts } = parseMessage(raw, { mailFrom: envelopeSenderOf(parseHeaders(raw).headers) });
  // Pretend it was addressed to alice, so that no catch-all rule hides what the named rule does.
  facts.headerRecipients = ['alice@example.test'];
  return decide(facts, alice, policy);
}

const cases: Array<[string, string, string]> = [
  ['a standard delivery status notification', 'bounce-dsn.eml', 'DELIVERY_REPORT'],
  ['a bounce whose report is nested in multipart/mixed', 'bounce-nested-report.eml', 'DELIVERY_REPORT'],
  ['a qmail bounce without multipart/report', 'bounce-qmail.eml', 'BOUNCE_SUBJECT'],
  ['a vacation reply marked Auto-Submitted', 'vacation-auto-submitted.eml', 'AUTO_SUBMITTED'],
  ['an Exchange "Automatic reply"', 'exchange-automatic-reply.eml', 'AUTO_REPLY'],
  ['a Latvian out-of-office reply', 'latvian-out-of-office.eml', 'AUTO_REPLY'],
  ['a Boxbe challenge', 'boxbe-challenge.eml', 'CR_CHALLENGE'],
  ['a BoxTrapper challenge', 'boxtrapper-challenge.eml', 'CR_CHALLENGE'],
  ['an ARF feedback report', 'arf-feedback-report.eml', 'DELIVERY_REPORT'],
  ['a feedback-loop report', 'fbl-report.eml', 'DELIVERY_REPORT'],
  ['a mailing-list post', 'list-post.eml', 'MAILING_LIST'],
  // Held out of the shared corpus: same sources, files the rules were not written from.
  ['a Bluebottle challenge (X-Bluebottle-Request, as SpamAssassin\'s VBounce rules know it)', 'bluebottle-challenge.eml', 'CR_CHALLENGE'],
  ['an auto-reply whose subject opens with the bracketed "[Automatyczna odpowiedź]"', 'polish-bracketed-autoreply.eml', 'AUTO_REPLY'],
  ['an MDaemon bounce sent by MDaemon@ with no report part', 'bounce-mdaemon.eml', 'MAILER_DAEMON_SENDER'],
];

describe('recognising real automatic mail', () => {
  for (const [what, file, symbol] of cases) {
    it(`does not challenge ${what} (${symbol})`, () => {
      const d = decideFixture(file);
      expect(d.reasons.map((r) => r.symbol)).toContain(symbol);
      expect(d.action).toBe('quarantine');
    });
  }

  it('finds the Message-ID of the returned message when its header is folded onto the next line', () => {
    const raw = readFileSync(new URL('./fixtures/corpus/bounce-folded-message-id.eml', import.meta.url));
    const { facts } = parseMessage(raw, { mailFrom: '' });
    expect(facts.referencedMessageIds).toContain('<000001523f20aeff-9f2bb10f-0500-407a-9f92-3b319a7f6a55-000000@us-west-2.amazonses.com>');
  });

  it('finds the Message-ID of a returned message whose headers are indented or quoted', () => {
    for (const line of ['    Message-ID: <indented-1@example.test>', '> Message-ID: <quoted-1@example.test>']) {
      const raw = Buffer.from(`From: MAILER-DAEMON@mx.test\r\nSubject: Undeliverable\r\n\r\nYour message:\r\n${line}\r\n`);
      expect(parseMessage(raw, { mailFrom: '' }).facts.referencedMessageIds, line).toContain(line.slice(line.indexOf('<')));
    }
  });

  it('reads the null sender from a bounce\'s Return-Path', () => {
    const d = decideFixture('bounce-dsn.eml');
    expect(d.reasons.map((r) => r.symbol)).toContain('NULL_SENDER');
  });
});
