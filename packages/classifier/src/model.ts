/**
 * The contract between the statistical filter and where its token counts live. The filter itself
 * (tokenizer, Robinson probabilities, chi-square combination) is pure; a TokenStore keeps the counts —
 * in memory for `crgate eval` and tests, in PostgreSQL (packages/store) for the running engine.
 *
 * Counts are weighted (a message trained with weight 0.5 adds 0.5), so they are numbers, not integers.
 * A model is a set of scopes read together: scope 0 is the global model, scope N the model of user N.
 */
export type Label = 'ham' | 'spam';
export type Verdict = 'ham' | 'unsure' | 'spam';

export interface TokenCounts {
  ham: number;
  spam: number;
}

export interface ModelTotals {
  /** Weighted number of ham messages trained. */
  nham: number;
  nspam: number;
}

export interface TokenStore {
  /** Totals over the given scopes, summed. */
  totals(scopes: readonly number[]): Promise<ModelTotals>;
  /** Counts of the given tokens over the given scopes, summed; tokens never seen are absent. */
  counts(scopes: readonly number[], tokens: readonly string[]): Promise<Map<string, TokenCounts>>;
  /**
   * Trains one message into one scope. Idempotent per (scope, messageKey): training the same message
   * again with the same label changes nothing; with the other label (or another weight) it moves it.
   * Resolves to whether the model changed.
   */
  train(scope: number, messageKey: string, tokens: readonly string[], label: Label, weight: number): Promise<boolean>;
  /** Removes a message's contribution (e.g. a message trained by mistake). */
  untrain(scope: number, messageKey: string): Promise<void>;
}

/** A token and its smoothed spam probability, one of the message's strongest clues. */
export interface Clue {
  token: string;
  prob: number;
}

export interface Classification {
  /** 0 = surely ham … 1 = surely spam. */
  score: number;
  verdict: Verdict;
  /** The strongest clues for spam (prob > 0.5) and for ham, strongest first, a few of each. */
  spamClues: Clue[];
  hamClues: Clue[];
}

export interface ClassifierOptions {
  /** Scores below this are ham. SpamBayes' default 0.20. */
  hamCutoff: number;
  /** Scores at or above this are spam. SpamBayes' default 0.90. */
  spamCutoff: number;
}

export const DEFAULT_CLASSIFIER_OPTIONS: ClassifierOptions = { hamCutoff: 0.2, spamCutoff: 0.9 };
