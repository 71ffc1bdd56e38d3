export { ChatPipeline, type ChatPolicy, type Runtime } from "./chat-pipeline.js";
export {
  noopObserver,
  type AttemptAnswer,
  type AttemptTrace,
  type Outcome,
  type Refusal,
  type RequestObserver,
  type RequestStart,
  type RequestSummary,
  type RequestTrace,
} from "./request-observer.js";
export { validateRequest } from "./request-validation.js";
