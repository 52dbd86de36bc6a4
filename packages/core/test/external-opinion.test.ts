import { describe, expect, it } from 'vitest';
import { combinedVerdict, decide, voteOf, type ExternalScore, type MessageFacts, type RecipientFacts } from '../src/index.js';

const sa = (score: number, threshold = 5): ExternalScore => ({ scorer: 'spamassassin', score, threshold, spam: score >= threshold, symbols: ['SOME_RULE'] });
const rspamd = (score: number, action: string): ExternalScore => ({ scorer: 'rspamd', score, threshold: 15, spam: action === 'reject', symbols: [], action });

describe('votes of the external scorers', () => {
  it('is a spam vote at or above the scorer\'s own threshold', () => expect(voteOf(sa(5))).toBe('spam'));
  it('is a ham vote only below zero, where the scorers put evidence of good mail', () => {
    expect(voteOf(sa(-0.1))).toBe('ham');
    expect(voteOf(sa(0))).toBe('neutral');
  });
  it('counts rspamd\'s reject action as spam whatever the score', () => expect(voteOf(rspamd(9, 'reject'))).toBe('spam'));
});

describe('combining our verdict with the votes', () => {
  it('leaves our verdict alone without scorers', () => {
    for (const v of ['ham', 'unsure', 'spam'] as const) expect(combinedVerdict(v, [])).toBe(v);
  });
  it('does not deliver on content when a scorer calls it spam', () => expect(combinedVerdict('ham', [sa(7)])).toBe('unsure'));
  it('makes unsure spam when a scorer is sure and none vouches for it', () => expect(combinedVerdict('unsure', [sa(7), rspamd(3, 'no action')])).toBe('spam'));
  it('keeps unsure when one scorer says spam and another vouches for the message', () => expect(combinedVerdict('unsure', [sa(7), rspamd(-2, 'no action')])).toBe('unsure'));
  it('does not discard our spam when a scorer vouches for the message', () => expect(combinedVerdict('spam', [sa(-1)])).toBe('unsure'));
  it('never moves ham to spam or spam to ham in one go', () => {
    expect(combinedVerdict('ham', [sa(50), rspamd(30, 'reject')])).toBe('unsure');
    expect(combinedVerdict('spam', [sa(-50), rspamd(-30, 'no action')])).toBe('unsure');
  });
  it('lets a scorer decide spam alone while our model is untrained', () => expect(combinedVerdict(undefined, [sa(9)])).toBe('spam'));
});

describe('the decision with scorers', () => {
  const recipient: RecipientFacts = { userId: 1, address: 'alice@example.test', addresses: ['alice@example.test'], challengesEnabled: true, senderOptedOut: false };
  const message = (externalScores: ExternalScore[]): MessageFacts => ({
    mailFrom: 'bob@remote.test',
    fromAddress: 'bob@remote.test',
    headers: new Map([['subject', ['hi']]]),
    headerRecipients: ['alice@example.test'],
    externalScores,
  });

  it('discards a message SpamAssassin calls spam while our own model has nothing to say', () => {
    const d = decide(message([sa(1000)]), recipient);
    expect(d.action).toBe('discard');
    expect(d.reasons.find((r) => r.symbol === 'SCORER_SPAM')?.detail).toBe('spamassassin 1000.0/5.0: SOME_RULE');
  });

  it('quarantines instead of discarding our spam that a scorer vouches for', () => {
    const d = decide(message([sa(-2)]), { ...recipient, content: { verdict: 'spam', score: 0.99, spamClues: [], hamClues: [] } });
    expect(d.action).toBe('quarantine');
    expect(d.reasons.map((r) => r.symbol)).toEqual(expect.arrayContaining(['CONTENT_SPAM', 'SCORER_HAM']));
  });
});
