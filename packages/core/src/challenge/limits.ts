/**
 * Whether a message held for challenge gets a new challenge, joins the one already out, or is held
 * without one because the per-(sender, recipient) limit was reached. The hourly per-sender and global
 * limits are counted when a challenge is actually sent (worker), where they can be enforced across
 * processes without putting Redis in the ingest's path.
 */
import type { Decision, Reason } from '../decision.js';

export interface PairChallengeState {
  /** A challenge for this (sender, recipient) that can still be confirmed. */
  active?: { id: string; createdAt: Date };
  /** When the newest challenge for this pair was created, whatever became of it. */
  lastCreatedAt?: Date;
  /** When the newest challenge for this pair was confirmed, if it was. */
  confirmedAt?: Date;
}

export type ChallengePlan =
  | { kind: 'none' }
  | { kind: 'attach'; challengeId: string }
  | { kind: 'create' }
  /** The sender confirmed a moment ago: the message is released as the confirmation released the others. */
  | { kind: 'release' };

const DAY_MS = 86_400_000;

/**
 * A message decided while its sender was confirming a challenge — the ingest read the lists before the
 * click, and stores the message after it — would be held as "already challenged" although the sender
 * is on the whitelist by now. Within this long of the confirmation it is released instead. Later the
 * whitelist decides (the recipient may have taken the sender off it since).
 */
export const CONFIRMED_JUST_NOW_MS = 10 * 60_000;

export function planChallenge(
  decision: Decision,
  state: PairChallengeState,
  now: Date,
  perPairDays: number,
): { decision: Decision; plan: ChallengePlan } {
  if (decision.action !== 'challenge') return { decision, plan: { kind: 'none' } };
  if (state.confirmedAt && now.getTime() - state.confirmedAt.getTime() < CONFIRMED_JUST_NOW_MS) {
    const reason: Reason = {
      symbol: 'CHALLENGE_CONFIRMED',
      weight: -5,
      detail: `the sender confirmed a challenge at ${state.confirmedAt.toISOString()}, while this message was being decided`,
    };
    return { decision: { action: 'deliver', reasons: [...decision.reasons, reason] }, plan: { kind: 'release' } };
  }
  if (state.active) {
    const reason: Reason = {
      symbol: 'CHALLENGE_PENDING',
      weight: 0,
      detail: `covered by the challenge sent on ${state.active.createdAt.toISOString()}`,
    };
    return { decision: { ...decision, reasons: [...decision.reasons, reason] }, plan: { kind: 'attach', challengeId: state.active.id } };
  }
  if (state.lastCreatedAt && now.getTime() - state.lastCreatedAt.getTime() < perPairDays * DAY_MS) {
    const reason: Reason = {
      symbol: 'RATE_LIMIT_PAIR',
      weight: 0,
      detail: `this sender was already challenged for this recipient within ${perPairDays} days`,
    };
    return { decision: { action: 'quarantine', reasons: [...decision.reasons, reason] }, plan: { kind: 'none' } };
  }
  return { decision, plan: { kind: 'create' } };
}
