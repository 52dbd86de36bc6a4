/**
 * Every input the fuzz test ever kept (test/fixtures/fuzz-regressions/, see its README) goes through
 * parse, decision and tokenizer again: each must get a decision and tokens, without an exception and
 * without the tokenizer having to cut the parse off at its deadline.
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { decide, type PolicySettings, type RecipientFacts } from '@crgate/core';
import { envelopeSenderOf, parseHeaders, parseMessage } from '@crgate/ingest';
import { tokenize } from '@crgate/classifier';

const DIR = new URL('./fixtures/fuzz-regressions/', import.meta.url);
const FILES = readdirSync(DIR).filter((f) => f.endsWith('.eml')).sort();
const policy: PolicySettings = { challengeRequiresAuth: true, localDomains: new Set(['example.test']) };
const alice: RecipientFacts = { userId: 1, address: 'alice@example.test', addresses: ['alice@example.test'], challengesEnabled: true, senderOptedOut: false };

describe('inputs the fuzzer kept', () => {
  it('has fixtures to replay', () => expect(FILES.length).toBeGreaterThan(0));

  for (const file of FILES) {
    it(`decides and tokenizes ${file}`, async () => {
      const input = readFileSync(new URL(file, DIR));
      const { facts } = parseMessage(input, { mailFrom: envelopeSenderOf(parseHeaders(input).headers) });
      expect(['deliver', 'challenge', 'quarantine', 'discard']).toContain(decide(facts, alice, policy).action);
      const tokens = await tokenize(input);
      expect(tokens.length).toBeGreaterThan(0);
      // Parsed, not given up on at the parser's deadline (each such message would hold its reply 2 s).
      expect(tokens).not.toContain('control:parse-timeout');
    });
  }
});
