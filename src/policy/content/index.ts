export { IncrementalScorer, scoreText, warmUpLexicon, type ContentMatch, type ContentScore } from "./builtin-engine.js";
export { DEFAULT_THRESHOLD, benignPatterns, harmfulEntries, MAX_PHRASE, WEAK_CAP, type LexiconEntry } from "./lexicon.js";
export {
  guardConversation,
  llamaGuardCategories,
  parseGuardReply,
  verdictCategories,
  type AskGuard,
  type GuardMessage,
  type GuardVerdict,
} from "./llama-guard.js";
