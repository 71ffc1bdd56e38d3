import { createHash, createHmac, randomBytes } from "node:crypto";
import type { ApiKey, Scope } from "../config/index.js";
import type { Principal } from "../wire/index.js";
import { GatewayError } from "../errors/index.js";

/**
 * API key → principal. Keys are held only as SHA-256 digests; a presented key is hashed and looked
 * up, so neither memory nor a timing difference gives a key away. With no keys configured the
 * gateway trusts loopback clients only.
 */
export class Authenticator {
  private readonly byDigest: Map<string, Principal>;
  readonly open: boolean;

  constructor(keys: ApiKey[]) {
    this.byDigest = new Map(keys.map((k) => [k.sha256, { keyId: k.id, scopes: k.scopes }]));
    this.open = keys.length === 0;
  }

  /** `authorization` is the raw header value; `remote` the peer address. */
  authenticate(authorization: string | undefined, remote: string | undefined, need: Scope = "chat"): Principal {
    let principal: Principal | undefined;
    if (this.open) {
      if (!isLoopback(remote))
        throw new AuthFailure("KT_ERR_UNAUTHENTICATED", "this gateway has no API keys configured and serves loopback clients only", undefined, undefined);
      principal = LOOPBACK;
    } else {
      // Repeated headers arrive joined by commas (fetch Headers, HTTP/2), never part of a token.
      // Refused as an authentication (recorded, and counted in the address's window like one).
      if (authorization !== undefined && authorization.includes(","))
        throw new AuthFailure("KT_ERR_INVALID_REQUEST", "the request has more than one Authorization value; send exactly one", undefined, fingerprint(authorization));
      const token = bearer(authorization);
      if (!token) throw new AuthFailure("KT_ERR_UNAUTHENTICATED", "missing API key: send `Authorization: Bearer <key>`", undefined, authorization ? fingerprint(authorization) : undefined);
      principal = this.byDigest.get(createHash("sha256").update(token).digest("hex"));
      if (!principal) throw new AuthFailure("KT_ERR_UNAUTHENTICATED", "invalid API key", undefined, fingerprint(token));
    }
    if (!principal.scopes.includes(need)) throw new AuthFailure("KT_ERR_FORBIDDEN", `this API key lacks the '${need}' scope`, principal, undefined);
    return principal;
  }
}

/**
 * A refused authentication, with what the audit record may say about it: the principal when the
 * key was recognised (a scope denial), else a fingerprint of what was presented — never the key.
 * KT_ERR_INVALID_REQUEST: more than one Authorization value (400), which authenticates no one.
 */
export class AuthFailure extends GatewayError {
  constructor(
    code: "KT_ERR_UNAUTHENTICATED" | "KT_ERR_FORBIDDEN" | "KT_ERR_INVALID_REQUEST",
    message: string,
    readonly principal: Principal | undefined,
    readonly fingerprint: string | undefined,
  ) {
    super(code, message);
  }
}

/**
 * Keyed per process (a random HMAC key that never leaves memory), truncated to 64 bits: the same
 * wrong key gives the same fingerprint for the life of the process, so repeated attempts can be
 * told apart from a spray of different guesses, but it cannot be reversed or tested against a
 * guessed key, and it matches neither the configured sha256 digests nor any other process's.
 */
const FINGERPRINT_KEY = randomBytes(32);

function fingerprint(presented: string): string {
  return "hmac:" + createHmac("sha256", FINGERPRINT_KEY).update(presented).digest("hex").slice(0, 16);
}

/**
 * Whether the raw header list names Authorization more than once (Node keeps only the first of
 * an HTTP/1.1 request's repeated Authorization headers in `headers`). A scan of the names Node
 * already holds, rather than `headersDistinct`, which builds an object of arrays of every header
 * per request.
 */
export function repeatedAuthorization(raw: readonly string[] | undefined): boolean {
  if (!raw) return false;
  let seen = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length !== 13 || name.toLowerCase() !== "authorization") continue;
    if (seen) return true;
    seen = true;
  }
  return false;
}

/** The refusal of a request with more than one Authorization header: a fingerprint of them all, never a key. */
export function duplicateAuthorization(raw: readonly string[]): AuthFailure {
  const values: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === "authorization") values.push(raw[i + 1]!);
  return new AuthFailure("KT_ERR_INVALID_REQUEST", "the request has more than one Authorization header; send exactly one", undefined, fingerprint(values.join("\n")));
}

const LOOPBACK: Principal = { keyId: "loopback", scopes: ["chat", "admin"] };

function bearer(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^\s*Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address === "::1" || address.startsWith("127.") || address.startsWith("::ffff:127.");
}
