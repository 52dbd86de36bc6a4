import { describe, expect, it } from 'vitest';
import { decide, planChallenge, type MessageFacts, type RecipientFacts } from '../src/index.js';

const message = (over: Partial<MessageFacts> = {}): MessageFacts => ({ mailFrom: 'bob@remote.test', headers: new Map(), ...over });
const recipient = (over: Partial<RecipientFacts> = {}): RecipientFacts => ({
  userId: 1,
  address: 'alice@example.test',
  senderOptedOut: false,
  ...over,
});

describe('decision', () => {
  it('challenges a sender on no list', () => {
    expect(decide(message(), recipient())).toEqual({
      action: 'challenge',
      reasons: [{ symbol: 'UNKNOWN_SENDER', weight: 0, detail: 'sender not on any list' }],
    });
  });

  it('delivers a whitelisted address', () => {
    const d = decide(message(), recipient({ whitelisted: { kind: 'address', value: 'bob@remote.test', source: 'confirmed' } }));
    expect(d.action).toBe('deliver');
    expect(d.reasons.map((r) => r.symbol)).toEqual(['WHITELIST_ADDRESS']);
  });

  it('delivers a whitelisted domain', () => {
    const d = decide(message(), recipient({ whitelisted: { kind: 'domain', value: 'remote.test', source: 'manual' } }));
    expect(d.action).toBe('deliver');
    expect(d.reasons.map((r) => r.symbol)).toEqual(['WHITELIST_DOMAIN']);
  });

  it('discards a blacklisted sender even when it is also whitelisted', () => {
    const d = decide(
      message(),
      recipient({
        blacklisted: { kind: 'domain', value: 'remote.test', source: 'manual' },
        whitelisted: { kind: 'address', value: 'bob@remote.test', source: 'confirmed' },
      }),
    );
    expect(d.action).toBe('discard');
    expect(d.reasons.map((r) => r.symbol)).toEqual(['BLACKLIST_DOMAIN', 'WHITELIST_ADDRESS']);
  });

  it('does not challenge the null sender', () => {
    const d = decide(message({ mailFrom: '' }), recipient());
    expect(d.action).toBe('quarantine');
    expect(d.reasons[0]!.symbol).toBe('NULL_SENDER');
  });

  it('does not challenge a sender who asked not to be', () => {
    const d = decide(message(), recipient({ senderOptedOut: true }));
    expect(d.action).toBe('quarantine');
    expect(d.reasons[0]!.symbol).toBe('SENDER_OPTED_OUT');
  });
});

describe('challenge plan', () => {
  const now = new Date('2026-11-23T12:00:00Z');
  const challenge = { action: 'challenge' as const, reasons: [{ symbol: 'UNKNOWN_SENDER', weight: 0, detail: '' }] };

  it('creates a challenge for a new pair', () => {
    expect(planChallenge(challenge, {}, now, 7).plan).toEqual({ kind: 'create' });
  });

  it('joins the challenge already out for the pair', () => {
    const r = planChallenge(challenge, { active: { id: 'c1', createdAt: new Date('2026-11-20T00:00:00Z') } }, now, 7);
    expect(r.plan).toEqual({ kind: 'attach', challengeId: 'c1' });
    expect(r.decision.action).toBe('challenge');
    expect(r.decision.reasons.map((x) => x.symbol)).toEqual(['UNKNOWN_SENDER', 'CHALLENGE_PENDING']);
  });

  it('holds without a challenge when the pair was challenged within the period', () => {
    const r = planChallenge(challenge, { lastCreatedAt: new Date('2026-11-18T00:00:00Z') }, now, 7);
    expect(r.plan).toEqual({ kind: 'none' });
    expect(r.decision.action).toBe('quarantine');
    expect(r.decision.reasons.at(-1)!.symbol).toBe('RATE_LIMIT_PAIR');
  });

  it('challenges again once the period has passed', () => {
    expect(planChallenge(challenge, { lastCreatedAt: new Date('2026-11-10T00:00:00Z') }, now, 7).plan).toEqual({ kind: 'create' });
  });

  it('leaves other decisions alone', () => {
    const deliver = { action: 'deliver' as const, reasons: [] };
    expect(planChallenge(deliver, {}, now, 7)).toEqual({ decision: deliver, plan: { kind: 'none' } });
  });
});
