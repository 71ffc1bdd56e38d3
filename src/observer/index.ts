// The contract between the pipeline that serves a request and those who watch it (the audit log,
// the request span, metrics and the access log): what a request's summary says, and the trace a
// request carries. Types only, plus the observer that watches nothing. It stands below chat,
// audit, telemetry and limits so that none of them imports another for the shape of a record.
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
export type { UsageRecord } from "./usage-record.js";
