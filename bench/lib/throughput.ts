/** The throughput table shared by overhead.ts and run-all.ts. */
import type { LoadRow } from "./load.js";
import { delta, fmt, fmtInt, ratio, table } from "./report.js";

export function throughputTable(rows: LoadRow[]): string {
  const direct = rows.find((r) => r.label.startsWith("direct"));
  const nginx = rows.find((r) => r.label.startsWith("nginx"));
  return table(
    ["path", "tool", "req/s", "req/s vs direct", "p50 ms", "p99 ms", "added p50 ms", "non-2xx", "socket errors", "proxy CPU µs/req", "CPU/req vs nginx", "proxy RSS MB", "fake CPU µs/req", "CPU µs/req over rounds"],
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
      r.cpuRange ? `${fmtInt(r.cpuRange[0])}–${fmtInt(r.cpuRange[1])}` : undefined,
    ]),
  );
}

/**
 * The comparison with the Portkey gateway under the throughput table: the full-chain gateway's
 * req/s ÷ Portkey's (the target is ≥ 10×), and CPU per request and added p50 side by side.
 */
export function portkeyComparison(rows: LoadRow[]): string | undefined {
  const direct = rows.find((r) => r.label.startsWith("direct"));
  const pk = rows.find((r) => r.label.startsWith("Portkey"));
  const full = rows.find((r) => r.label === "gateway, full chain");
  const plain = rows.find((r) => r.label.startsWith("plain Node proxy"));
  const nginx = rows.find((r) => r.label.startsWith("nginx"));
  if (!pk || !full) return undefined;
  const x = full.load.rps / pk.load.rps;
  const verdict = !Number.isFinite(x) ? "" : x >= 10 ? " — target ≥ 10× met" : " — target ≥ 10× **not met**";
  return [
    `**gateway full chain req/s ÷ Portkey req/s = ${ratio(full.load.rps, pk.load.rps) ?? "—"}** (${fmtInt(full.load.rps) ?? "—"} ÷ ${fmtInt(pk.load.rps) ?? "—"})${verdict}.`,
    `CPU per request: full chain ${fmtInt(full.proxyCpuUs) ?? "—"} µs, Portkey ${fmtInt(pk.proxyCpuUs) ?? "—"} µs (${ratio(full.proxyCpuUs, pk.proxyCpuUs) ?? "—"}); ` +
      `added p50: full chain ${delta(full.load.p50Ms, direct?.load.p50Ms) ?? "—"} ms, Portkey ${delta(pk.load.p50Ms, direct?.load.p50Ms) ?? "—"} ms.`,
    plain
      ? `For scale, the plain Node proxy with no governance reaches ${ratio(plain.load.rps, pk.load.rps) ?? "—"} Portkey's req/s at ${fmtInt(plain.proxyCpuUs) ?? "—"} µs/req` +
        `${nginx ? ` (${ratio(plain.proxyCpuUs, nginx.proxyCpuUs, 1) ?? "—"} nginx's)` : ""}, added p50 ${delta(plain.load.p50Ms, direct?.load.p50Ms) ?? "—"} ms: ` +
        `the full chain costs ${fmtInt(full.proxyCpuUs !== undefined && plain.proxyCpuUs !== undefined ? full.proxyCpuUs - plain.proxyCpuUs : undefined) ?? "—"} µs/req more than Node's HTTP stack and undici alone.`
      : "",
  ].join(" ");
}
