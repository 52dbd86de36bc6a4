/**
 * The statistical filter proper, as SpamBayes does it (classifier.py): each token gets Robinson's
 * smoothed spam probability from its ham and spam counts, the tokens far enough from 0.5 are the
 * clues, the strongest 150 of them are combined with Fisher's chi-square method into a spam
 * indicator S and a ham indicator H, and the score is (S − H + 1) / 2. Two cut-offs split the score
 * into ham, unsure and spam.
 *
 * Pure: counts come in as arguments, read by the caller from a TokenStore (see classifyMessage).
 */
import { chi2Q } from './chi2.js';
import {
  DEFAULT_CLASSIFIER_OPTIONS,
  type Classification,
  type ClassifierOptions,
  type Clue,
  type ModelTotals,
  type TokenCounts,
  type TokenStore,
  type Verdict,
} from './model.js';
import { tokenize } from './tokenizer.js';

/** Robinson's s: how many messages' worth of belief the prior x gets. SpamBayes' unknown_word_strength. */
export const UNKNOWN_WORD_STRENGTH = 0.45;
/** Robinson's x: the probability of a token never seen. SpamBayes' unknown_word_prob. */
export const UNKNOWN_WORD_PROB = 0.5;
/** Tokens closer than this to 0.5 are not clues. SpamBayes' minimum_prob_strength. */
export const MINIMUM_PROB_STRENGTH = 0.1;
/** The most clues a message is judged on. SpamBayes' max_discriminators. */
export const MAX_DISCRIMINATORS = 150;
/** Clues reported each way in a Classification. */
const REPORTED_CLUES = 5;

/**
 * Robinson's f(w): the spam probability of a token seen in `counts.ham` of `totals.nham` ham and
 * `counts.spam` of `totals.nspam` spam. Ratios, not raw counts, so a corpus with twice as much ham
 * does not make every word look hammy; then pulled towards x by s, less the more often it was seen.
 * Assumes both totals are positive.
 */
export function tokenProbability(counts: TokenCounts, totals: ModelTotals): number {
  // A count above its total can only come from inconsistent weights; SpamBayes clamps it too.
  const ham = Math.min(Math.max(counts.ham, 0), totals.nham);
  const spam = Math.min(Math.max(counts.spam, 0), totals.nspam);
  const hamRatio = ham / totals.nham;
  const spamRatio = spam / totals.nspam;
  if (hamRatio + spamRatio === 0) return UNKNOWN_WORD_PROB;
  const p = spamRatio / (hamRatio + spamRatio);
  const n = ham + spam;
  return (UNKNOWN_WORD_STRENGTH * UNKNOWN_WORD_PROB + n * p) / (UNKNOWN_WORD_STRENGTH + n);
}

/**
 * Fisher/Robinson chi-square combining of clue probabilities into a score in [0, 1]: S measures how
 * unlikely the clues are if they were random rather than spammy, H the same for hammy. Both high (a
 * message with strong clues both ways) gives 0.5, not false certainty — SpamBayes' cure for
 * "cancellation disease". No clues at all is 0.5 too.
 *
 * The logs are summed directly, where SpamBayes multiplies and rescales with frexp to dodge
 * underflow; the result is the same, and 300 Math.log calls cost about a microsecond.
 */
export function combineProbabilities(probs: readonly number[]): number {
  const n = probs.length;
  if (n === 0) return 0.5;
  let lnSpam = 0;
  let lnHam = 0;
  for (const p of probs) {
    lnSpam += Math.log(1 - p);
    lnHam += Math.log(p);
  }
  const S = 1 - chi2Q(-2 * lnSpam, 2 * n);
  const H = 1 - chi2Q(-2 * lnHam, 2 * n);
  return (S - H + 1) / 2;
}

/** The verdict for a score: below hamCutoff ham, at or above spamCutoff spam, unsure between. */
export function verdictFor(score: number, options: ClassifierOptions): Verdict {
  if (score < options.hamCutoff) return 'ham';
  if (score >= options.spamCutoff) return 'spam';
  return 'unsure';
}

/**
 * Classifies a message's tokens against a model: `totals` and the `counts` of (at least) these tokens,
 * both summed over the scopes the caller reads. Tokens absent from `counts` were never seen.
 *
 * A model without both ham and spam cannot tell them apart — every known token would point to the
 * one class it has seen — so until both totals are positive every message is unsure at 0.5.
 */
export function classify(
  tokens: readonly string[],
  totals: ModelTotals,
  counts: ReadonlyMap<string, TokenCounts>,
  options: ClassifierOptions = DEFAULT_CLASSIFIER_OPTIONS,
): Classification {
  if (!(totals.nham > 0 && totals.nspam > 0)) {
    return { score: 0.5, verdict: verdictFor(0.5, options), spamClues: [], hamClues: [] };
  }
  const clues: Array<Clue & { distance: number }> = [];
  for (const token of new Set(tokens)) {
    const c = counts.get(token);
    if (!c) continue; // unknown: probability x = 0.5, never a clue
    const prob = tokenProbability(c, totals);
    const distance = Math.abs(prob - 0.5);
    if (distance >= MINIMUM_PROB_STRENGTH) clues.push({ token, prob, distance });
  }
  // Strongest first; ties broken by token so the same message always gets the same score.
  clues.sort((a, b) => b.distance - a.distance || (a.token < b.token ? -1 : a.token > b.token ? 1 : 0));
  const used = clues.slice(0, MAX_DISCRIMINATORS);
  const score = combineProbabilities(used.map((c) => c.prob));

  const spamClues = used.filter((c) => c.prob > 0.5).sort((a, b) => b.prob - a.prob);
  const hamClues = used.filter((c) => c.prob < 0.5).sort((a, b) => a.prob - b.prob);
  const report = (list: typeof used): Clue[] => list.slice(0, REPORTED_CLUES).map(({ token, prob }) => ({ token, prob }));
  return { score, verdict: verdictFor(score, options), spamClues: report(spamClues), hamClues: report(hamClues) };
}

/**
 * Tokenizes a raw message and classifies it against the model made of `scopes` (e.g. `[0, userId]`:
 * the global model plus the user's own), reading the store once for totals and once for counts.
 */
export async function classifyMessage(
  raw: Buffer,
  store: TokenStore,
  scopes: readonly number[],
  options: ClassifierOptions = DEFAULT_CLASSIFIER_OPTIONS,
): Promise<Classification> {
  const tokens = await tokenize(raw);
  const [totals, counts] = await Promise.all([store.totals(scopes), store.counts(scopes, tokens)]);
  return classify(tokens, totals, counts, options);
}
