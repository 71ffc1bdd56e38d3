import { pino, type DestinationStream, type Logger, type LevelWithSilent } from "pino";
import { isoTime, jsonString } from "../wire/index.js";
import { LineWriter } from "./line-writer.js";

export type LogFormat = "json" | "pretty";
export type { Logger };

export const LOG_LEVELS: readonly LevelWithSilent[] = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

export interface LoggingOptions {
  /** Default: KT_LOG_LEVEL, else `info`. */
  level?: string;
  /** `json` (one object per line, the default) or `pretty` (one readable line, for a terminal). */
  format?: LogFormat;
  /** Where lines go; default stderr (stdout stays for command output). Tests pass a stream. */
  destination?: DestinationStream;
  /** Bound on every line; default KT_WORKER_ID under `--workers`. */
  workerId?: string;
}

/** Checks a `--log-level` / KT_LOG_LEVEL value; throws a message naming the accepted ones. */
export function parseLogLevel(value: string): LevelWithSilent {
  const v = value.trim().toLowerCase();
  if ((LOG_LEVELS as readonly string[]).includes(v)) return v as LevelWithSilent;
  throw new Error(`log level must be one of ${LOG_LEVELS.join(", ")}, got '${value}'`);
}

/** What every line of the current logger carries after its time: `,"pid":N` and `,"worker":W` under --workers. */
let baseJson = "";

function build(opts: LoggingOptions = {}): Logger {
  const env = process.env;
  const level = parseLogLevel(opts.level ?? env.KT_LOG_LEVEL ?? "info");
  const workerId = opts.workerId ?? env.KT_WORKER_ID;
  const worker = workerId ? (Number.isInteger(Number(workerId)) ? Number(workerId) : workerId) : undefined;
  baseJson = `,"pid":${process.pid}${worker === undefined ? "" : `,"worker":${JSON.stringify(worker)}`}`;
  const destination =
    opts.destination ??
    (opts.format === "pretty"
      ? prettyStream(process.stderr)
      : // A turn's lines in one write at its end (line-writer.ts); flushed at exit (flushLogs).
        new LineWriter(2));
  return pino(
    {
      level,
      // ISO time reads in any log tool; pid and hostname stay (pino's default base).
      timestamp: pino.stdTimeFunctions.isoTime,
      base: worker === undefined ? { pid: process.pid } : { pid: process.pid, worker },
      formatters: { level: (label) => ({ level: label }) },
      // Belt and braces: no field of these names ever reaches a line, whoever logs it.
      redact: { paths: ["apiKey", "api_key", "authorization", "headers.authorization"], censor: "[REDACTED]" },
    },
    destination,
  );
}

/**
 * The process's logger. Live binding: `configureLogging` replaces it, so call `log.warn(...)` at use
 * time rather than keeping a reference (or a child) from module load.
 */
export let log: Logger = build();

/** Sets level, format and destination (the CLI calls this once, from its flags, before anything logs). */
export function configureLogging(opts: LoggingOptions): Logger {
  const old = log;
  log = build(opts);
  try {
    old.flush();
  } catch {
    // an old destination that is already closed
  }
  return log;
}

/**
 * Writes one info line whose fields the caller has already written as JSON members (`"k":v,…`,
 * nothing else): the access log's line, one per request. The line is the one pino writes for
 * `log.info(fields, msg)` — level, time, pid (and worker), the fields, msg — to the same
 * destination, so it interleaves with every other line; built from one template instead of
 * pino's walk over an object (a for-in, a serialiser and a megamorphic load per key, and the
 * redaction check). The caller must leave secrets and content out, as with any line: no
 * redaction path applies to these fields.
 */
export function writeInfoLine(fieldsJson: string, msg: string): void {
  const l = log;
  if (!l.isLevelEnabled("info")) return;
  const stream = (l as unknown as Record<symbol, DestinationStream>)[pino.symbols.streamSym]!;
  stream.write(`{"level":"info","time":"${isoTime(Date.now())}"${baseJson},${fieldsJson},"msg":${jsonString(msg)}}\n`);
}

/** Writes out buffered lines now (before exit). */
export function flushLogs(): void {
  try {
    const stream = (log as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as { flushSync?: () => void } | undefined;
    stream?.flushSync?.();
  } catch {
    // not yet ready (sonic-boom opens its fd asynchronously) or already closed: nothing to flush
  }
}

const LEVEL_NAMES: Record<string, string> = { fatal: "FATAL", error: "ERROR", warn: "WARN ", info: "INFO ", debug: "DEBUG", trace: "TRACE" };
const OMIT = new Set(["level", "time", "msg", "pid", "hostname"]);

/** `--log-format pretty`: `12:00:01.123 WARN  [w1] message key=value …`, one line per record. */
function prettyStream(out: NodeJS.WritableStream): DestinationStream {
  return {
    write(line: string) {
      let o: Record<string, unknown>;
      try {
        o = JSON.parse(line) as Record<string, unknown>;
      } catch {
        out.write(line);
        return;
      }
      const time = typeof o.time === "string" ? o.time.slice(11, 23) : "";
      const worker = o.worker === undefined ? "" : ` [w${String(o.worker)}]`;
      const rest = Object.entries(o)
        .filter(([k]) => !OMIT.has(k) && k !== "worker")
        .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
        .join(" ");
      out.write(`${time} ${LEVEL_NAMES[String(o.level)] ?? String(o.level)}${worker} ${String(o.msg ?? "")}${rest ? ` ${rest}` : ""}\n`);
    },
  };
}
