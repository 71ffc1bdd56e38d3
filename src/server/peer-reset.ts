/**
 * Errors of a connection its peer (a client, an upstream) broke: the socket is gone, nothing of
 * the process's own state is wrong. Only errno errors of a system call count (a read or write that
 * met a reset, a closed pipe, an aborted or timed-out connection).
 */
const PEER_CODES = new Set(["ECONNRESET", "EPIPE", "ECONNABORTED", "ETIMEDOUT"]);

export function isPeerReset(err: unknown): err is NodeJS.ErrnoException {
  if (!(err instanceof Error)) return false;
  const e = err as NodeJS.ErrnoException;
  return typeof e.code === "string" && PEER_CODES.has(e.code) && typeof e.syscall === "string";
}
