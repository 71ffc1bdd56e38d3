/**
 * What a log line may say of an error nobody expected: its name, its code and system call, and
 * where it was thrown (the stack's frames), never its message. A message can quote what the
 * client sent (V8's JSON.parse quotes the text it failed on; a library may echo a header or a
 * body), and secrets and PII never go to the logs. The frames say where to look.
 */
export function errorSummary(err: unknown): { name: string; code?: string; syscall?: string; frames?: string } {
  if (!(err instanceof Error)) return { name: typeof err };
  const e = err as NodeJS.ErrnoException;
  const out: { name: string; code?: string; syscall?: string; frames?: string } = { name: e.name };
  if (typeof e.code === "string") out.code = e.code;
  if (typeof e.syscall === "string") out.syscall = e.syscall;
  const frames = (e.stack ?? "")
    .split("\n")
    .filter((l) => l.startsWith("    at "))
    .slice(0, 8)
    .map((l) => l.slice(7))
    .join(" < ");
  if (frames.length > 0) out.frames = frames;
  return out;
}
