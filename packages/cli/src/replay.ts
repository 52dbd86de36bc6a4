/**
 * `crgate replay`: the dry run. Each message goes through the same decision pipeline as the LMTP
 * ingest — parsing, authentication, the recipient's lists, the policy — and nothing is stored, sent,
 * learned or counted. The envelope sender is taken from Return-Path, else From.
 */
import type { Config, Decision, Logger } from '@crgate/core';
import { findUserByAddress, type Db, type User } from '@crgate/store';
import { createDecisionPipeline, parseHeaders, readMailSources, storedEnvelopeOf } from '@crgate/ingest';
import { normalizeAddress } from '@crgate/core';
import { reportSkipped } from './cli-helpers.js';

export interface ReplayLine {
  file: string;
  decision: Decision['action'];
  reasons: string[];
  /** Spam likelihood 0..1: the classifier's score; without a trained model, the rule weights through a logistic curve. */
  score: number;
}

export interface ReplayOptions {
  as: string;
  offline: boolean;
  concurrency?: number;
}

function ruleScore(decision: Decision): number {
  const sum = decision.reasons.reduce((s, r) => s + r.weight, 0);
  return Math.round((1 / (1 + Math.exp(-sum / 3))) * 1000) / 1000;
}

export async function* replay(config: Config, db: Db, paths: string[], options: ReplayOptions, logger: Logger): AsyncGenerator<ReplayLine> {
  const address = normalizeAddress(options.as);
  const found = await findUserByAddress(db, address);
  // An address that is not a user is replayed as a user with no lists and no aliases.
  const user: User = found ?? { id: -1, address, aliases: [], challengesEnabled: true, language: 'en', isAdmin: false, createdAt: new Date() };
  const pipeline = createDecisionPipeline(config, { db, offline: options.offline, logger });
  const window: Array<Promise<ReplayLine>> = [];
  const concurrency = options.concurrency ?? 8;
  try {
    for await (const { file, raw } of readMailSources(paths, reportSkipped)) {
      const line = (async () => {
        try {
          const { headers } = parseHeaders(raw);
          const { decisions, content } = await pipeline.decideFor(raw, storedEnvelopeOf(headers), [user], logger);
          const d = decisions.get(user.id)!;
          const score = content?.verdicts.get(user.id)?.score;
          return { file, decision: d.action, reasons: d.reasons.map((r) => r.symbol), score: score === undefined ? ruleScore(d) : Math.round(score * 1000) / 1000 };
        } catch (err) {
          throw new Error(`${file}: ${(err as Error).message}`);
        }
      })();
      // Awaited in turn below; until then a failure must not count as unhandled.
      line.catch(() => undefined);
      window.push(line);
      if (window.length >= concurrency) yield await window.shift()!;
    }
    while (window.length) yield await window.shift()!;
  } finally {
    await Promise.allSettled(window);
  }
}
