/** Reasons in plain words. */
import { describe, expect, it } from 'vitest';
import { RULES } from '@crgate/core';
import { REASON_PHRASES, reasonPhrases } from '../src/reason-phrases.js';

const DAY = 86_400_000;

describe('reason phrases', () => {
  it('has words for every symbol a rule can give (families excepted)', () => {
    const symbols = RULES.flatMap((r) => r.symbols).filter((s) => !s.endsWith('*'));
    expect(symbols.filter((s) => !(s in REASON_PHRASES))).toEqual([]);
  });

  it('says when the challenge went out, and leaves out passing authentication results', () => {
    const now = new Date('2026-11-23T12:00:00Z');
    const item = {
      challenge: { status: 'sent', createdAt: new Date(now.getTime() - 3 * DAY), sentAt: new Date(now.getTime() - 3 * DAY) },
      reasons: [
        { symbol: 'SPF_PASS', weight: -1, detail: '' },
        { symbol: 'UNKNOWN_SENDER', weight: 0, detail: '' },
        { symbol: 'CONTENT_UNSURE', weight: 0, detail: 'content score 0.5' },
        { symbol: 'DMARC_FAIL', weight: 3, detail: '' },
      ],
    };
    expect(reasonPhrases(item, now)).toEqual(['challenge sent 3 days ago', 'sender unknown', 'content uncertain', 'DMARC check failed']);
    expect(reasonPhrases({ ...item, challenge: { ...item.challenge, sentAt: new Date(now.getTime() - 60_000) } }, now)[0]).toBe('challenge sent today');
  });
});
