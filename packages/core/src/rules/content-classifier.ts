/**
 * The content classifier's verdict, after the recipient's own lists and the sent-mail log: surely spam
 * is discarded, surely ham is delivered, and only the uncertain rest goes on to the rules that decide
 * between a challenge and a quiet hold. Ham is not delivered when the message is shown forged (SPF or
 * DMARC fail, or a forged local sender): good-looking text does not make a forgery genuine. Nor is an
 * automatic answer (bounce, report, auto-reply, challenge) delivered on its words alone: only one
 * about mail the recipient really sent is (rule reply-to-sent, earlier).
 */
import type { Rule } from '../decision.js';
import { forgedLocalSenderRule } from './forged-local-sender.js';
import { isAutomaticAnswer } from './sent-mail.js';

function clues(list: ReadonlyArray<{ token: string; prob: number }>): string {
  return list.slice(0, 3).map((c) => `${c.token} ${c.prob.toFixed(2)}`).join(', ');
}

export const contentClassifierRule: Rule = {
  id: 'content-classifier',
  description: 'The statistical filter: spam is discarded, ham delivered, unsure goes on to the challenge rules',
  symbols: ['CONTENT_SPAM', 'CONTENT_HAM', 'CONTENT_UNSURE'],
  evaluate(ctx) {
    const c = ctx.recipient.content;
    if (!c) return null;
    const score = c.score.toFixed(3);
    if (c.verdict === 'spam') {
      return { symbol: 'CONTENT_SPAM', weight: 5, detail: `content score ${score}; spam clues: ${clues(c.spamClues)}`, action: 'discard' };
    }
    if (c.verdict === 'ham') {
      const auth = ctx.message.auth;
      const forged = (auth && (auth.spf.result === 'fail' || auth.dmarc.result === 'fail')) || forgedLocalSenderRule.evaluate(ctx) !== null;
      const withheld = forged || isAutomaticAnswer(ctx);
      return {
        symbol: 'CONTENT_HAM',
        weight: -5,
        detail: `content score ${score}; ham clues: ${clues(c.hamClues)}`,
        ...(withheld ? {} : { action: 'deliver' as const }),
      };
    }
    return { symbol: 'CONTENT_UNSURE', weight: 0, detail: `content score ${score}; spam clues: ${clues(c.spamClues)}; ham clues: ${clues(c.hamClues)}` };
  },
};
