export * from './model.js';
export { tokenize, MAX_MESSAGE_BYTES } from './tokenizer.js';
export { MAX_TOKEN_LENGTH, MAX_TOKENS_PER_MESSAGE } from './token-bag.js';
export { chi2Q } from './chi2.js';
export {
  classify,
  classifyMessage,
  combineProbabilities,
  tokenProbability,
  verdictFor,
  MAX_DISCRIMINATORS,
  MINIMUM_PROB_STRENGTH,
  UNKNOWN_WORD_PROB,
  UNKNOWN_WORD_STRENGTH,
} from './classify.js';
export { MemoryTokenStore } from './memory-store.js';
export { confusion, formatConfusion, splitForEvaluation, type ConfusionTable, type EvaluationSplit } from './evaluate.js';
