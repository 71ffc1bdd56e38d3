/** The throughput table shared by overhead.ts and run-all.ts. */
import type { LoadRow } from "./load.js";
import { delta, fmt, fmtInt, ratio, table } from "./report.js";

export function throughputTable(rows: LoadRow[]): string {
  const direct = rows.find((r) => r.label.startsWith("direct"));
  const nginx = rows.find((r) => r.label.startsWith("nginx"));
  return table(
    ["path", "tool", "req/s", "req/s vs direct", "p50 ms", "p99 ms", "added p50 ms", "non-2xx", "socket errors", "proxy CPU µs/req", "CPU/req vs nginx", "proxy RSS MB", "fake CPU µs/req"],
    rows.map((r) => [
      r.label,
      r.load.tool,
      fmtInt(r.load.rps),
      r === direct ? "1.00×" : ratio(r.load.rps, direct?.load.rps),
      fmt(r.load.p50Ms),
      fmt(r.load.p99Ms),
      r === direct ? undefined : delta(r.load.p50Ms, direct?.load.p50Ms),
      r.load.non2xx,
      r.load.socketErrors,
      fmtInt(r.proxyCpuUs),
      r === nginx || r === direct ? undefined : ratio(r.proxyCpuUs, nginx?.proxyCpuUs, 1),
      fmt(r.proxyRssMb, 1),
      fmtInt(r.upstreamCpuUs),
    ]),
  );
}
