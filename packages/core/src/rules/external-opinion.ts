/**
 * How the external scorers' answers (SpamAssassin, rspamd) combine with crgate's own content verdict.
 * The rule, as docs/classifier.md states it:
 *
 * - each scorer that answered casts one vote: `spam` when it is sure (rspamd's `reject`, SpamAssassin
 *   at scorers.spamdSpamScore, decided by the client that read the answer), `ham` when its score is
 *   below zero (both daemons go negative only on evidence of good mail: a
 *   DNS allowlist, a trusted signature, their own Bayes), `neutral` otherwise;
 * - our `ham` with any spam vote is not delivered on content: it becomes `unsure`;
 * - our `unsure` (or no verdict, an untrained model) with at least one spam vote and no ham vote
 *   becomes `spam`: one filter sure, none against;
 * - our `spam` with any ham vote becomes `unsure`: someone has evidence for the message, so it is
 *   not *surely* spam and must not be discarded.
 *
 * External scorers can thus move a message one step only, and never from ham to spam or back.
 */
import type { ContentVerdict, ExternalScore } from '../facts.js';

export type ScorerVote = 'spam' | 'ham' | 'neutral';
type Verdict = ContentVerdict['verdict'];

export function voteOf(score: ExternalScore): ScorerVote {
  if (score.spam) return 'spam';
  return score.score < 0 ? 'ham' : 'neutral';
}

/** The verdict that decides, from ours (undefined: our filter had nothing to say) and the votes. */
export function combinedVerdict(ours: Verdict | undefined, external: readonly ExternalScore[]): Verdict | undefined {
  if (external.length === 0) return ours;
  const votes = external.map(voteOf);
  const spamVote = votes.includes('spam');
  const hamVote = votes.includes('ham');
  switch (ours) {
    case 'ham':
      return spamVote ? 'unsure' : 'ham';
    case 'spam':
      return hamVote ? 'unsure' : 'spam';
    default:
      if (spamVote && !hamVote) return 'spam';
      return ours;
  }
}

/** `spamassassin 6.2/5.0: HTML_MESSAGE, MIME_HTML_ONLY` — what a reason's detail shows. */
export function describeScore(s: ExternalScore): string {
  const rules = s.symbols.slice(0, 6).join(', ');
  const action = s.action ? ` (${s.action})` : '';
  return `${s.scorer} ${s.score.toFixed(1)}/${s.threshold.toFixed(1)}${action}${rules ? `: ${rules}` : ''}`;
}
