/** Markdown tables and number formatting for the bench reports. */
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT } from "./proc.js";

export function table(header: string[], rows: (string | number | undefined)[][]): string {
  const cell = (v: string | number | undefined) => (v === undefined || v === "" ? "—" : String(v));
  const lines = [`| ${header.join(" | ")} |`, `| ${header.map(() => "---").join(" | ")} |`];
  for (const r of rows) lines.push(`| ${r.map(cell).join(" | ")} |`);
  return lines.join("\n");
}

export const fmt = (v: number | undefined, digits = 2) => (v === undefined || !Number.isFinite(v) ? undefined : v.toFixed(digits));
export const fmtInt = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? undefined : Math.round(v).toString());
export const ratio = (a: number | undefined, b: number | undefined, digits = 2) =>
  a === undefined || b === undefined || b === 0 ? undefined : `${(a / b).toFixed(digits)}×`;
export const delta = (a: number | undefined, b: number | undefined, digits = 2) =>
  a === undefined || b === undefined ? undefined : `${a - b >= 0 ? "+" : ""}${(a - b).toFixed(digits)}`;

export function machineLine(): string {
  const cpus = os.cpus();
  return `${cpus.length} CPU(s) (${cpus[0]?.model.trim() ?? "unknown"}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}`;
}

/** Prints the report and writes it to bench/results/<name>. */
export function writeReport(name: string, markdown: string): string {
  const dir = path.join(ROOT, "bench", "results");
  mkdirSync(dir, { recursive: true });
  const p = path.join(dir, name);
  writeFileSync(p, markdown.endsWith("\n") ? markdown : markdown + "\n");
  process.stdout.write("\n" + markdown + "\n");
  return p;
}

/** Writes a chart (an SVG from bench/lib/svg-chart.ts) to bench/results/<name>, quietly. */
export function writeChart(name: string, svg: string): string {
  const dir = path.join(ROOT, "bench", "results");
  mkdirSync(dir, { recursive: true });
  const p = path.join(dir, name);
  writeFileSync(p, svg);
  return p;
}

/** An error in one line: its first line plus the most telling line of the child's output. */
export function brief(e: unknown): string {
  const lines = String((e as Error)?.message ?? e)
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  const head = lines[0] ?? "unknown error";
  const why = lines.slice(1).find((l) => /error|cannot|not found|ERR_|failed|invalid|unknown/i.test(l)) ?? lines[1];
  return (why ? `${head.replace(/:$/, "")}: ${why}` : head).replace(/\|/g, "\\|").slice(0, 400);
}
