/**
 * The content classifier at the ingest: tokenize once, classify per recipient against the global
 * model plus the recipient's own, and learn from what the ingest itself knows for sure (mail it
 * delivers because the recipient vouched for the sender, mail it discards as sure spam, users' own
 * outgoing mail). Learning never delays or fails a reply: it runs after, and only logs its errors.
 */
import type { Config, ContentVerdict, Logger } from '@crgate/core';
import { classify, tokenize, type Label, type TokenStore } from '@crgate/classifier';

export const GLOBAL_SCOPE = 0;

/** A store that answers totals and counts in one round trip (PgTokenStore does). */
interface OneLookup {
  lookup(scopes: readonly number[], tokens: readonly string[]): Promise<{ totals: { nham: number; nspam: number }; counts: Map<string, { ham: number; spam: number }> }>;
}

/** A store that can train many messages at once (PgTokenStore does; the in-memory one does not). */
interface BatchTrainer {
  trainMany(items: ReadonlyArray<{ scope: number; messageKey: string; tokens: readonly string[]; label: Label; weight: number }>): Promise<void>;
}

/** Pending learning is written at most this long after the reply... */
const LEARN_FLUSH_MS = 250;
/** ...or as soon as this many messages wait. */
const LEARN_BATCH = 200;

interface PendingLearning {
  scope: number;
  messageKey: string;
  tokens: readonly string[];
  label: Label;
  weight: number;
  why: string;
}

export interface ContentCheck {
  tokens: string[];
  verdicts: Map<number, ContentVerdict>;
}

export class ContentChecker {
  private pending: PendingLearning[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

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
        const store = this.store as TokenStore & Partial<OneLookup>;
        let totals: { nham: number; nspam: number };
        let counts: Map<string, { ham: number; spam: number }>;
        if (store.lookup) ({ totals, counts } = await store.lookup(scopes, tokens));
        else {
          totals = await store.totals(scopes);
          counts = totals.nham && totals.nspam ? await store.counts(scopes, tokens) : new Map();
        }
        if (totals.nham === 0 || totals.nspam === 0) return;
        const c = classify(tokens, totals, counts, { hamCutoff: this.config.classifier.hamCutoff, spamCutoff: this.config.classifier.spamCutoff });
        verdicts.set(userId, { verdict: c.verdict, score: c.score, spamClues: c.spamClues, hamClues: c.hamClues });
      }),
    );
    return { tokens, verdicts };
  }

  /**
   * Trains in the background; a failure is logged, never thrown. Messages are gathered for a moment and
   * written in one transaction per batch (PgTokenStore.trainMany): one transaction per message made
   * concurrent trainings queue on the locks of the same token and totals rows, each holding a pooled
   * connection, and was the largest PostgreSQL cost of the ingest (docs/performance.md). Learning that
   * waits here is lost if the process dies: it is an improvement of the model, not mail.
   */
  learnLater(userId: number, messageKey: string, tokens: readonly string[], label: Label, weight: number, why: string): void {
    if (!this.enabled) return;
    this.pending.push({ scope: userId, messageKey, tokens, label, weight, why });
    if (this.pending.length >= LEARN_BATCH) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), LEARN_FLUSH_MS).unref();
  }

  /** Writes what waits to be learned (one batch at a time); resolves when it is written or logged as failed. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return this.flushing;
    this.flushing = this.flushing.then(() => this.write(batch));
    return this.flushing;
  }

  private async write(batch: PendingLearning[]): Promise<void> {
    const store = this.store as TokenStore & Partial<BatchTrainer>;
    try {
      if (store.trainMany) await store.trainMany(batch);
      else for (const it of batch) await store.train(it.scope, it.messageKey, it.tokens, it.label, it.weight);
      for (const it of batch) {
        this.logger.debug({ event: 'classifier.learned', userId: it.scope, label: it.label, weight: it.weight, why: it.why }, `learned ${it.label}`);
      }
    } catch (err) {
      for (const it of batch) {
        this.logger.warn(
          { event: 'classifier.learn_failed', userId: it.scope, label: it.label, why: it.why, err: (err as Error).message },
          'could not train the classifier',
        );
      }
    }
  }
}
