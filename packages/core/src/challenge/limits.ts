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
}

export type ChallengePlan =
  | { kind: 'none' }
  | { kind: 'attach'; challengeId: string }
  | { kind: 'create' };

const DAY_MS = 86_400_000;

export function planChallenge(
  decision: Decision,
  state: PairChallengeState,
  now: Date,
  perPairDays: number,
): { decision: Decision; plan: ChallengePlan } {
  if (decision.action !== 'challenge') return { decision, plan: { kind: 'none' } };
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
