/**
 * A TokenStore in memory, for `crgate eval`, tests and tools; the running engine keeps its counts in
 * PostgreSQL (packages/store) behind the same interface.
 *
 * Training is idempotent per (scope, messageKey): the store remembers each trained message's tokens,
 * label and weight, so training it again the same way changes nothing, and training it with another
 * label or weight first takes the old contribution out. That is what lets a user's "this was spam
 * after all" correct the model instead of counting the message twice.
 */
import type { Label, ModelTotals, TokenCounts, TokenStore } from './model.js';

interface TrainedMessage {
  tokens: readonly string[];
  label: Label;
  weight: number;
}

interface Scope {
  nham: number;
  nspam: number;
  tokens: Map<string, TokenCounts>;
  messages: Map<string, TrainedMessage>;
}

/** Weighted counts are sums of floats; anything this close to 0 after a removal is 0. */
const EPSILON = 1e-9;

export class MemoryTokenStore implements TokenStore {
  private readonly scopes = new Map<number, Scope>();

  async totals(scopes: readonly number[]): Promise<ModelTotals> {
    const out: ModelTotals = { nham: 0, nspam: 0 };
    for (const id of new Set(scopes)) {
      const scope = this.scopes.get(id);
      if (!scope) continue;
      out.nham += scope.nham;
      out.nspam += scope.nspam;
    }
    return out;
  }

  async counts(scopes: readonly number[], tokens: readonly string[]): Promise<Map<string, TokenCounts>> {
    const out = new Map<string, TokenCounts>();
    // A scope listed twice is still one model; counting it twice would double its evidence.
    const models = [...new Set(scopes)].map((id) => this.scopes.get(id)).filter((s): s is Scope => s !== undefined);
    for (const token of new Set(tokens)) {
      let ham = 0;
      let spam = 0;
      let seen = false;
      for (const model of models) {
        const c = model.tokens.get(token);
        if (!c) continue;
        seen = true;
        ham += c.ham;
        spam += c.spam;
      }
      if (seen) out.set(token, { ham, spam });
    }
    return out;
  }

  async train(scope: number, messageKey: string, tokens: readonly string[], label: Label, weight: number): Promise<boolean> {
    if (!(weight > 0 && Number.isFinite(weight))) throw new RangeError(`training weight must be a positive number, got ${weight}`);
    const model = this.scope(scope);
    const distinct = [...new Set(tokens)];
    const before = model.messages.get(messageKey);
    if (before && before.label === label && before.weight === weight && sameTokens(before.tokens, distinct)) return false;
    if (before) this.remove(model, before);
    const message: TrainedMessage = { tokens: distinct, label, weight };
    this.add(model, message);
    model.messages.set(messageKey, message);
    return true;
  }

  async untrain(scope: number, messageKey: string): Promise<void> {
    const model = this.scopes.get(scope);
    const message = model?.messages.get(messageKey);
    if (!model || !message) return;
    this.remove(model, message);
    model.messages.delete(messageKey);
  }

  private scope(id: number): Scope {
    let scope = this.scopes.get(id);
    if (!scope) {
      scope = { nham: 0, nspam: 0, tokens: new Map(), messages: new Map() };
      this.scopes.set(id, scope);
    }
    return scope;
  }

  private add(model: Scope, { tokens, label, weight }: TrainedMessage): void {
    model[label === 'ham' ? 'nham' : 'nspam'] += weight;
    for (const token of tokens) {
      let c = model.tokens.get(token);
      if (!c) {
        c = { ham: 0, spam: 0 };
        model.tokens.set(token, c);
      }
      c[label] += weight;
    }
  }

  private remove(model: Scope, { tokens, label, weight }: TrainedMessage): void {
    const total = label === 'ham' ? 'nham' : 'nspam';
    model[total] = settle(model[total] - weight);
    for (const token of tokens) {
      const c = model.tokens.get(token);
      if (!c) continue;
      c[label] = settle(c[label] - weight);
      // A token no message mentions any more is forgotten, as if never seen.
      if (c.ham === 0 && c.spam === 0) model.tokens.delete(token);
    }
  }
}

function settle(value: number): number {
  return value < EPSILON ? 0 : value;
}

function sameTokens(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const set = new Set(a);
  return b.every((t) => set.has(t));
}
