export { ChatPipeline, type ChatPolicy, type Runtime } from "./chat-pipeline.js";
export { noopObserver, type Outcome, type RequestObserver, type RequestSummary, type RequestTrace } from "./request-observer.js";
export { validateRequest } from "./request-validation.js";
