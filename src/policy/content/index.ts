export { ContentClassifier, defaultClassifier, loadClassifier, projectRoot, STRIDE, type ClassifierModel } from "./classifier.js";
export { defaultThresholds, judgeText, verdictOf, warmUpClassifier, type ClassifierVerdict } from "./content-judge.js";
export { foldText, wordsOf } from "./content-text.js";
export {
  guardConversation,
  llamaGuardCategories,
  parseGuardReply,
  verdictCategories,
  type AskGuard,
  type GuardMessage,
  type GuardVerdict,
} from "./llama-guard.js";
export { guardFormats, graniteRisks, shieldGemmaPolicies, shieldGemmaPrompt, type GuardFormat, type GuardRequest } from "./guard-formats.js";
