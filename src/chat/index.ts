export { ChatPipeline, type ChatPolicy, type Runtime } from "./chat-pipeline.js";
export { validateRequest } from "./request-validation.js";
