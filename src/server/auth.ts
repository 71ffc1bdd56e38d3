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
      if (authorization !== undefined && authorization.includes(","))
        throw new GatewayError("KT_ERR_INVALID_REQUEST", "the request has more than one Authorization value; send exactly one");
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
 */
export class AuthFailure extends GatewayError {
  constructor(
    code: "KT_ERR_UNAUTHENTICATED" | "KT_ERR_FORBIDDEN",
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
