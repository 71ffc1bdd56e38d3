/** Numbers, times and durations in the user's own locale (the browser's language setting). */

const locale = navigator.languages?.[0] ?? navigator.language ?? "en";

const int = new Intl.NumberFormat(locale, { maximumFractionDigits: 0 });
const dec = new Intl.NumberFormat(locale, { maximumFractionDigits: 1 });
const pct = new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 1 });
const dateTime = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "medium" });
const time = new Intl.DateTimeFormat(locale, { timeStyle: "medium" });
const hm = new Intl.DateTimeFormat(locale, { hour: "2-digit", minute: "2-digit" });

export function fmtInt(n: number | bigint): string {
  return int.format(n);
}

export function fmtDec(n: number): string {
  return dec.format(n);
}

export function fmtPct(ratio: number): string {
  return pct.format(ratio);
}

export function fmtMs(ms: number): string {
  return ms >= 10_000 ? `${dec.format(ms / 1000)} s` : `${int.format(ms)} ms`;
}

export function fmtDateTime(d: Date | undefined): string {
  return d ? dateTime.format(d) : "—";
}

export function fmtTime(d: Date | undefined): string {
  return d ? time.format(d) : "—";
}

export function fmtHourMinute(d: Date): string {
  return hm.format(d);
}

/** A moment as the clock of a named time zone shows it (a budget period ends at midnight there). */
export function fmtDateTimeIn(d: Date | undefined, timeZone: string): string {
  if (!d) return "—";
  try {
    return new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short", timeZone }).format(d);
  } catch {
    return dateTime.format(d);
  }
}
