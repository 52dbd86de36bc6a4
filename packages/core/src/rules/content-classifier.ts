/**
 * The content classifier's verdict (combined with the external scorers' votes, see external-opinion.ts), after the recipient's own lists and the sent-mail log: surely spam
 * is discarded, surely ham is delivered, and only the uncertain rest goes on to the rules that decide
 * between a challenge and a quiet hold. Ham is not delivered when the message is shown forged (SPF or
 * DMARC fail, or a forged local sender): good-looking text does not make a forgery genuine. Nor is an
 * automatic answer (bounce, report, auto-reply, challenge) delivered on its words alone: only one
 * about mail the recipient really sent is (rule reply-to-sent, earlier).
 */
import type { Rule, RuleResult } from '../decision.js';
import { combinedVerdict, describeScore, voteOf } from './external-opinion.js';
import { forgedLocalClaim } from './forged-local-sender.js';
import { isAutomaticAnswer } from './sent-mail.js';

function clues(list: ReadonlyArray<{ token: string; prob: number }>): string {
  return list.slice(0, 3).map((c) => `${c.token} ${c.prob.toFixed(2)}`).join(', ');
}

const SCORER_SYMBOL = { spam: 'SCORER_SPAM', ham: 'SCORER_HAM', neutral: 'SCORER_NEUTRAL' } as const;
const SCORER_WEIGHT = { spam: 3, ham: -3, neutral: 0 } as const;

export const contentClassifierRule: Rule = {
  id: 'content-classifier',
  description: 'The statistical filter, with the external scorers when configured: spam is discarded, ham delivered, unsure goes on to the challenge rules',
  symbols: ['CONTENT_SPAM', 'CONTENT_HAM', 'CONTENT_UNSURE', 'SCORER_SPAM', 'SCORER_HAM', 'SCORER_NEUTRAL'],
  evaluate(ctx) {
    const c = ctx.recipient.content;
    const external = ctx.message.externalScores ?? [];
    if (!c && external.length === 0) return null;
    const results: RuleResult[] = [];
    if (c) {
      const score = c.score.toFixed(3);
      if (c.verdict === 'spam') results.push({ symbol: 'CONTENT_SPAM', weight: 5, detail: `content score ${score}; spam clues: ${clues(c.spamClues)}` });
      else if (c.verdict === 'ham') results.push({ symbol: 'CONTENT_HAM', weight: -5, detail: `content score ${score}; ham clues: ${clues(c.hamClues)}` });
      else results.push({ symbol: 'CONTENT_UNSURE', weight: 0, detail: `content score ${score}; spam clues: ${clues(c.spamClues)}; ham clues: ${clues(c.hamClues)}` });
    }
    for (const s of external) {
      const vote = voteOf(s);
      results.push({ symbol: SCORER_SYMBOL[vote], weight: SCORER_WEIGHT[vote], detail: describeScore(s) });
    }
    const verdict = combinedVerdict(c?.verdict, external);
    // The deciding reason carries the action: the first one, ours when we had a verdict.
    const first = results[0]!;
    if (verdict === 'spam') first.action = 'discard';
    if (verdict === 'ham') {
      const auth = ctx.message.auth;
      // Only a forged local sender counts: an authenticated note to oneself (SENDER_IS_RECIPIENT) that
      // is ham is delivered.
      const forged = (auth && (auth.spf.result === 'fail' || auth.dmarc.result === 'fail')) || forgedLocalClaim(ctx) !== undefined;
      if (!forged && !isAutomaticAnswer(ctx)) first.action = 'deliver';
    }
    return results;
  },
};
