/** wrk: a Lua script for the POST, the run (bounded in time), and the parser of `wrk --latency`. */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { hasCommand, startChild, tail } from "./proc.js";

export interface LoadResult {
  tool: "wrk" | "undici";
  requests: number;
  seconds: number;
  rps: number;
  p50Ms: number | undefined;
  p90Ms: number | undefined;
  p99Ms: number | undefined;
  non2xx: number;
  socketErrors: number;
  raw?: string;
}

export function wrkPath(): string | undefined {
  return hasCommand("wrk");
}

/** A Lua string literal: `"…"`, quotes, backslashes, control and non-ASCII bytes escaped as `\ddd`. */
export function luaString(v: string): string {
  let out = '"';
  for (const b of Buffer.from(v, "utf8")) {
    if (b === 0x22 || b === 0x5c || b < 0x20 || b >= 0x7f) out += `\\${b.toString().padStart(3, "0")}`;
    else out += String.fromCharCode(b);
  }
  return out + '"';
}

/**
 * A wrk script that POSTs `body` as JSON, with `headers` added to every request (e.g. the
 * `x-portkey-*` routing headers of the Portkey row); returns its path.
 */
export function writeWrkScript(dir: string, body: string, name = "post.lua", headers: Record<string, string> = {}): string {
  let eq = "=";
  while (body.includes(`]${eq}]`)) eq += "=";
  const lua = [
    'wrk.method = "POST"',
    `wrk.body = [${eq}[${body}]${eq}]`,
    'wrk.headers["Content-Type"] = "application/json"',
    'wrk.headers["Accept"] = "application/json"',
    ...Object.entries(headers).map(([k, v]) => `wrk.headers[${luaString(k)}] = ${luaString(v)}`),
    "",
  ].join("\n");
  const p = path.join(dir, name);
  writeFileSync(p, lua);
  return p;
}

export interface WrkOptions {
  url: string;
  script: string;
  seconds: number;
  connections?: number;
  threads?: number;
  timeoutSeconds?: number;
  /** Run wrk on this CPU only (`taskset -c`), for the pinned measurement. */
  cpu?: number;
}

export async function runWrk(o: WrkOptions): Promise<LoadResult> {
  const bin = wrkPath();
  if (!bin) throw new Error("wrk is not installed");
  const args = [
    `-t${o.threads ?? 2}`,
    `-c${o.connections ?? 16}`,
    `-d${o.seconds}s`,
    `--timeout`,
    `${o.timeoutSeconds ?? 10}s`,
    "--latency",
    "-s",
    o.script,
    o.url,
  ];
  const child = o.cpu === undefined ? startChild("wrk", bin, args) : startChild("wrk", "taskset", ["-c", String(o.cpu), bin, ...args]);
  // wrk stops itself after -d; this is the bound if it does not.
  const guard = setTimeout(() => void child.stop(1000), (o.seconds + 20) * 1000);
  const code = await child.exited;
  clearTimeout(guard);
  const out = child.stdout();
  if (code !== 0) throw new Error(`wrk exited ${code}: ${tail(child.stderr() || out)}`);
  return parseWrk(out);
}

/** Milliseconds from a wrk duration such as `812.00us`, `1.23ms`, `2.01s`, `1.50m`. */
export function wrkDurationMs(v: string): number | undefined {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(v.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = { us: 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3 }[m[2] as "us" | "ms" | "s" | "m" | "h"];
  return n * unit;
}

export function parseWrk(text: string): LoadResult {
  const pct = (p: string) => {
    const m = new RegExp(`^\\s*${p}%\\s+(\\S+)`, "m").exec(text);
    return m ? wrkDurationMs(m[1]!) : undefined;
  };
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m),/.exec(text);
  const requests = total ? Number(total[1]) : 0;
  const seconds = total ? (wrkDurationMs(`${total[2]}${total[3]}`) ?? 0) / 1000 : 0;
  const rpsM = /Requests\/sec:\s+([\d.]+)/.exec(text);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(text);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  return {
    tool: "wrk",
    requests,
    seconds,
    rps: rpsM ? Number(rpsM[1]) : seconds > 0 ? requests / seconds : 0,
    p50Ms: pct("50"),
    p90Ms: pct("90"),
    p99Ms: pct("99"),
    non2xx: non2xx ? Number(non2xx[1]) : 0,
    socketErrors: sock ? Number(sock[1]) + Number(sock[2]) + Number(sock[3]) + Number(sock[4]) : 0,
    raw: text,
  };
}
