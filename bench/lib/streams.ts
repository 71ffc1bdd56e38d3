/** SSE clients on undici: time to first token over sequential streams, and many streams at once. */
import { Client, Pool, type Dispatcher } from "undici";
import { MODEL } from "./configs.js";
import { percentile } from "./node-load.js";

/**
 * The TTFT prompt: about 40 words with an email early on. The fake echoes it one word per chunk,
 * so an incremental guard has room to forward text before the end of the stream.
 */
export const TTFT_BODY = JSON.stringify({
  model: MODEL,
  messages: [
    {
      role: "user",
      content:
        "Send the meeting notes to jane.doe@example.com before the team call, then summarise the open questions about the rollout plan, the budget for the next quarter, the hiring timeline and the migration of the billing service to the new cluster.",
    },
  ],
  stream: true,
  max_tokens: 200,
});

/** A short streaming prompt (12 words back) with an email in the middle: the memory and soak runs. */
export const STREAM_BODY = JSON.stringify({
  model: MODEL,
  messages: [{ role: "user", content: "Send the notes to jane.doe@example.com before the team call" }],
  stream: true,
  max_tokens: 64,
});

export interface StreamResult {
  status: number;
  /** ms from sending the request to the first non-empty content delta. */
  ttftMs: number | undefined;
  /** ms to the response headers (a relay sends them with the upstream's first chunk: the request's path there and back). */
  headersMs?: number;
  /**
   * ms to the second non-empty content delta. On the direct path this is when the upstream sent
   * the chunk that lets an incremental guard release the first word (see run-all's holdNote).
   */
  secondMs?: number;
  totalMs: number;
  contentChars: number;
  sawDone: boolean;
  errorEvent: boolean;
  error?: string;
}

export async function oneStream(d: Dispatcher, body: string, timeoutMs = 120_000): Promise<StreamResult> {
  const t0 = performance.now();
  let ttft: number | undefined;
  let headers: number | undefined;
  let second: number | undefined;
  let chars = 0;
  let sawDone = false;
  let errorEvent = false;
  let status = 0;
  try {
    const r = await d.request({
      path: "/v1/chat/completions",
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs),
    });
    status = r.statusCode;
    headers = performance.now() - t0;
    let buf = "";
    r.body.setEncoding("utf8");
    for await (const piece of r.body as AsyncIterable<string>) {
      buf += piece;
      let i: number;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const ev = buf.slice(0, i);
        buf = buf.slice(i + 2);
        for (const line of ev.split("\n")) {
          if (!line.startsWith("data:")) continue;
          const data = line.slice(5).trim();
          if (data === "[DONE]") {
            sawDone = true;
            continue;
          }
          try {
            const j = JSON.parse(data);
            if (j?.error) errorEvent = true;
            const c = j?.choices?.[0]?.delta?.content;
            if (typeof c === "string" && c.length > 0) {
              if (ttft === undefined) ttft = performance.now() - t0;
              else second ??= performance.now() - t0;
              chars += c.length;
            }
          } catch {
            /* not JSON */
          }
        }
      }
    }
  } catch (e) {
    return { status, ttftMs: ttft, headersMs: headers, secondMs: second, totalMs: performance.now() - t0, contentChars: chars, sawDone, errorEvent, error: (e as Error).message };
  }
  return { status, ttftMs: ttft, headersMs: headers, secondMs: second, totalMs: performance.now() - t0, contentChars: chars, sawDone, errorEvent };
}

export function streamFailed(r: StreamResult): string | undefined {
  if (r.error) return r.error.split("\n")[0];
  if (r.status !== 200) return `HTTP ${r.status}`;
  if (r.errorEvent) return "error event";
  if (!r.sawDone) return "no [DONE]";
  if (r.contentChars === 0) return "no content";
  return undefined;
}

export interface TtftSummary {
  n: number;
  ttftP50Ms: number | undefined;
  ttftP90Ms: number | undefined;
  /** Time to the response headers and to the second content delta, p50 (see StreamResult). */
  headersP50Ms: number | undefined;
  secondP50Ms: number | undefined;
  totalP50Ms: number | undefined;
  errors: number;
  firstError?: string;
}

/**
 * Streams one after another over one keep-alive connection, taken in batches (`take`) so that
 * several paths can be measured in interleaved rounds; `summary` covers every stream taken.
 */
export class StreamSampler {
  private readonly client: Client;
  private readonly ttft: number[] = [];
  private readonly headers: number[] = [];
  private readonly second: number[] = [];
  private readonly total: number[] = [];
  private n = 0;
  private errors = 0;
  private firstError: string | undefined;

  constructor(
    private readonly origin: string,
    private readonly body = TTFT_BODY,
  ) {
    this.client = new Client(origin, { keepAliveTimeout: 60_000 });
  }

  /**
   * Unmeasured streams: connection, JIT and pools warm before the first measured one. `many`
   * streams more, 50 at a time on connections of their own, before the one on the measured
   * connection: a few dozen sequential streams leave the request path's code (the policy scan of
   * the prompt, the limits, the audit span) in V8's interpreter and baseline tiers, where it ran
   * up to ~10× its optimised time (the full chain's request phase on the TTFT prompt: 0.4–1 ms
   * over its first 50 calls against ~50–100 µs warm, in-process, loaded machine). Whether that
   * shows through the machine's noise in wall time was not settled (round 10: an interleaved
   * warmed/unwarmed pair of incremental gateways read 7.31 against 7.59 ms own part after a 10 s
   * settle, and the warmed one worse, 7.65 against 4.76, without it), so run-all leaves it off by
   * default (BENCH_STREAM_WARM).
   */
  async warmUp(many = 0): Promise<void> {
    for (let done = 0; done < many; done += 50) await concurrentStreams(this.origin, Math.min(50, many - done), this.body);
    await oneStream(this.client, this.body);
  }

  async take(k: number): Promise<void> {
    for (let i = 0; i < k; i++) {
      this.n++;
      const r = await oneStream(this.client, this.body);
      const bad = streamFailed(r);
      if (bad) {
        this.errors++;
        this.firstError ??= bad;
        continue;
      }
      if (r.ttftMs !== undefined) this.ttft.push(r.ttftMs);
      if (r.headersMs !== undefined) this.headers.push(r.headersMs);
      if (r.secondMs !== undefined) this.second.push(r.secondMs);
      this.total.push(r.totalMs);
    }
  }

  summary(): TtftSummary {
    const ttft = [...this.ttft].sort((a, b) => a - b);
    const total = [...this.total].sort((a, b) => a - b);
    const p50 = (xs: number[]) => percentile([...xs].sort((a, b) => a - b), 50);
    return {
      n: this.n,
      ttftP50Ms: percentile(ttft, 50),
      ttftP90Ms: percentile(ttft, 90),
      headersP50Ms: p50(this.headers),
      secondP50Ms: p50(this.second),
      totalP50Ms: percentile(total, 50),
      errors: this.errors,
      firstError: this.firstError,
    };
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

/** `n` streams one after another over one keep-alive connection (after one unmeasured warm-up stream). */
export async function sequentialStreams(origin: string, n: number, body = TTFT_BODY): Promise<TtftSummary> {
  const s = new StreamSampler(origin, body);
  try {
    await s.warmUp();
    await s.take(n);
    return s.summary();
  } finally {
    await s.close();
  }
}

export interface ConcurrentSummary {
  n: number;
  completed: number;
  errors: number;
  errorKinds: Record<string, number>;
  wallMs: number;
  totalP50Ms: number | undefined;
  totalMaxMs: number | undefined;
  ttftP50Ms: number | undefined;
  ttftP99Ms: number | undefined;
  ttftMaxMs: number | undefined;
}

/** `n` streams at once, each on its own connection. */
export async function concurrentStreams(origin: string, n: number, body = STREAM_BODY, timeoutMs = 120_000): Promise<ConcurrentSummary> {
  const pool = new Pool(origin, { connections: n, keepAliveTimeout: 60_000 });
  const t0 = performance.now();
  try {
    const results = await Promise.all(Array.from({ length: n }, () => oneStream(pool, body, timeoutMs)));
    return summarise(results, performance.now() - t0);
  } finally {
    await pool.destroy();
  }
}

export function summarise(results: StreamResult[], wallMs: number): ConcurrentSummary {
  const kinds: Record<string, number> = {};
  const totals: number[] = [];
  const ttfts: number[] = [];
  let completed = 0;
  for (const r of results) {
    const bad = streamFailed(r);
    if (bad) kinds[bad] = (kinds[bad] ?? 0) + 1;
    else {
      completed++;
      totals.push(r.totalMs);
      if (r.ttftMs !== undefined) ttfts.push(r.ttftMs);
    }
  }
  totals.sort((a, b) => a - b);
  ttfts.sort((a, b) => a - b);
  return {
    n: results.length,
    completed,
    errors: results.length - completed,
    errorKinds: kinds,
    wallMs,
    totalP50Ms: percentile(totals, 50),
    totalMaxMs: totals.at(-1),
    ttftP50Ms: percentile(ttfts, 50),
    ttftP99Ms: percentile(ttfts, 99),
    ttftMaxMs: ttfts.at(-1),
  };
}
