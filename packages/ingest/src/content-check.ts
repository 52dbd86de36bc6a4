/**
 * The content classifier at the ingest: tokenize once, classify per recipient against the global
 * model plus the recipient's own, and learn from what the ingest itself knows for sure (mail it
 * delivers because the recipient vouched for the sender, mail it discards as sure spam, users' own
 * outgoing mail). Learning never delays or fails a reply: it runs after, and only logs its errors.
 */
import type { Config, ContentVerdict, Logger } from '@crgate/core';
import { classify, tokenize, type Label, type TokenStore } from '@crgate/classifier';

export const GLOBAL_SCOPE = 0;

export interface ContentCheck {
  tokens: string[];
  verdicts: Map<number, ContentVerdict>;
}

export class ContentChecker {
  constructor(
    private readonly config: Config,
    private readonly store: TokenStore,
    private readonly logger: Logger,
  ) {}

  get enabled(): boolean {
    return this.config.classifier.enabled;
  }

  /** Verdicts per user id; none for a user whose combined model has not seen both ham and spam yet. */
  async check(raw: Buffer, userIds: readonly number[]): Promise<ContentCheck | undefined> {
    if (!this.enabled || userIds.length === 0) return undefined;
    const tokens = await tokenize(raw);
    const verdicts = new Map<number, ContentVerdict>();
    await Promise.all(
      userIds.map(async (userId) => {
        const scopes = [GLOBAL_SCOPE, userId];
        const totals = await this.store.totals(scopes);
        if (totals.nham === 0 || totals.nspam === 0) return;
        const counts = await this.store.counts(scopes, tokens);
        const c = classify(tokens, totals, counts, { hamCutoff: this.config.classifier.hamCutoff, spamCutoff: this.config.classifier.spamCutoff });
        verdicts.set(userId, { verdict: c.verdict, score: c.score, spamClues: c.spamClues, hamClues: c.hamClues });
      }),
    );
    return { tokens, verdicts };
  }

  /** Trains in the background; a failure is logged, never thrown. */
  learnLater(userId: number, messageKey: string, tokens: readonly string[], label: Label, weight: number, why: string): void {
    if (!this.enabled) return;
    this.store.train(userId, messageKey, tokens, label, weight).then(
      () => this.logger.debug({ event: 'classifier.learned', userId, label, weight, why }, `learned ${label}`),
      (err: unknown) => this.logger.warn({ event: 'classifier.learn_failed', userId, label, why, err: (err as Error).message }, 'could not train the classifier'),
    );
  }
}
