/**
 * A fallback load generator on undici for machines without wrk: N keep-alive connections, each
 * sending the POST back to back for a fixed time. It shares the CPU with this process, so its
 * numbers are lower than wrk's; the table says which tool measured a row.
 */
import { Pool } from "undici";
import type { LoadResult } from "./wrk.js";

export async function runNodeLoad(o: { url: string; body: string; seconds: number; connections?: number; headers?: Record<string, string> }): Promise<LoadResult> {
  const u = new URL(o.url);
  const conns = o.connections ?? 16;
  const pool = new Pool(u.origin, { connections: conns, pipelining: 1 });
  const lat: number[] = [];
  let non2xx = 0;
  let errors = 0;
  const t0 = performance.now();
  const deadline = t0 + o.seconds * 1000;
  const worker = async () => {
    while (performance.now() < deadline) {
      const s = performance.now();
      try {
        const r = await pool.request({
          path: u.pathname,
          method: "POST",
          headers: { "content-type": "application/json", ...o.headers },
          body: o.body,
          headersTimeout: 10_000,
          bodyTimeout: 10_000,
        });
        await r.body.dump({ limit: 1 << 20 });
        if (r.statusCode < 200 || r.statusCode >= 400) non2xx++;
      } catch {
        errors++;
        continue;
      }
      lat.push(performance.now() - s);
    }
  };
  await Promise.all(Array.from({ length: conns }, worker));
  const seconds = (performance.now() - t0) / 1000;
  await pool.close();
  lat.sort((a, b) => a - b);
  return {
    tool: "undici",
    requests: lat.length,
    seconds,
    rps: lat.length / seconds,
    p50Ms: percentile(lat, 50),
    p90Ms: percentile(lat, 90),
    p99Ms: percentile(lat, 99),
    non2xx,
    socketErrors: errors,
  };
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}
