/**
 * The decision for one recipient of one message: a closed set of actions (Postfix's lesson) and the
 * named reasons behind it (rspamd's lesson), so an operator and the recipient can see why.
 */
import { DEFAULT_POLICY, type MessageFacts, type PolicySettings, type RecipientFacts } from './facts.js';
import { RULES } from './rules/registry.js';

export type DecisionAction = 'deliver' | 'challenge' | 'quarantine' | 'discard';
export const DECISION_ACTIONS: readonly DecisionAction[] = ['deliver', 'challenge', 'quarantine', 'discard'];

export interface Reason {
  /** Stable UPPER_SNAKE name, e.g. WHITELIST_ADDRESS. */
  symbol: string;
  /** Positive pushes towards spam, negative towards ham; 0 for purely informative reasons. */
  weight: number;
  /** Short human explanation with the specifics (which entry, which limit). */
  detail: string;
}

export interface Decision {
  action: DecisionAction;
  reasons: Reason[];
}

export interface RuleContext {
  message: MessageFacts;
  recipient: RecipientFacts;
  policy: PolicySettings;
}

/** What a rule says when it fires: a reason, and optionally the action it demands. */
export interface RuleResult extends Reason {
  action?: DecisionAction;
}

export interface Rule {
  id: string;
  description: string;
  /** Every symbol the rule can name (`SPF_*` for a family); docs/policy.md lists the same. */
  symbols: readonly string[];
  /** A rule may name several reasons at once (the authentication rule names one per check). */
  evaluate(ctx: RuleContext): RuleResult | RuleResult[] | null;
}

/**
 * Runs every rule in registry order. All fired rules are kept as reasons; the action is that of the
 * first rule (in order) that demands one. Rules are ordered by precedence in rules/registry.ts.
 */
export function decide(
  message: MessageFacts,
  recipient: RecipientFacts,
  policy: PolicySettings = DEFAULT_POLICY,
  rules: readonly Rule[] = RULES,
): Decision {
  const reasons: Reason[] = [];
  let action: DecisionAction | undefined;
  for (const rule of rules) {
    const fired = rule.evaluate({ message, recipient, policy });
    if (!fired) continue;
    for (const result of Array.isArray(fired) ? fired : [fired]) {
      reasons.push({ symbol: result.symbol, weight: result.weight, detail: result.detail });
      if (!action && result.action) action = result.action;
    }
  }
  // A sender on no list is the catch-all case; a registry without a deciding rule is a programming error.
  if (!action) throw new Error('no rule decided: the rule registry must decide every case');
  return { action, reasons };
}

/** `WHITELIST_ADDRESS, UNKNOWN_SENDER` — the short form used in headers and logs. */
export function reasonSymbols(reasons: readonly Reason[]): string {
  return reasons.map((r) => r.symbol).join(', ');
}
