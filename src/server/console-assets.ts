import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { NodeRequest } from "./http-body.js";
import type { NodeResponse } from "./openai-shim.js";

/** Where the console lives on the gateway's port. */
export const CONSOLE_PATH = "/console/";

/**
 * The console's pages only load what the gateway itself serves: no CDN, no inline script or
 * style, no fonts, no frames. `connect-src 'self'` is the Governance and Chat services on the
 * same origin; Jaeger trace links are plain navigations, which CSP does not govern.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'none'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": CONSOLE_CSP,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
};

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".json": "application/json",
  ".txt": "text/plain; charset=utf-8",
};

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

/** Is this request for the console (and so not for the OpenAI shim)? */
export function isConsolePath(url: string | undefined): boolean {
  return url !== undefined && (url === "/console" || url.startsWith("/console/") || url.startsWith("/console?"));
}

/**
 * Serves the built console (`console/dist/`, made by `npm run build:console`) from memory. Only
 * files that were in the directory when it was first read are served — a fixed table, so no
 * request path reaches the file system. The table is read on first use, not at start-up, so a
 * gateway nobody opens the console on pays nothing.
 */
export function createConsoleHandler(dir: string | undefined = findConsoleDir()): (req: NodeRequest, res: NodeResponse) => void {
  let assets: Map<string, Asset> | undefined;
  return (req, res) => {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    const method = req.method ?? "GET";
    if (method !== "GET" && method !== "HEAD") return sendText(res, 405, "use GET for the console\n", { allow: "GET, HEAD" });
    if (path === "/console") return sendText(res, 308, "the console is at /console/\n", { location: CONSOLE_PATH });
    assets ??= loadAssets(dir);
    if (assets.size === 0) return sendText(res, 503, "the console is not built: run `npm run build:console` (npm ci runs it)\n");
    const name = path === CONSOLE_PATH ? "index.html" : safeDecode(path.slice(CONSOLE_PATH.length));
    const asset = name === undefined ? undefined : assets.get(name);
    if (!asset) return sendText(res, 404, "not found\n");
    const headers: Record<string, string | number> = {
      ...SECURITY_HEADERS,
      "content-type": asset.type,
      // Small files, revalidated on each load: a gateway upgrade is seen at once.
      "cache-control": "no-cache",
      etag: asset.etag,
    };
    if (req.headers["if-none-match"] === asset.etag) {
      (res as import("node:http").ServerResponse).writeHead(304, headers);
      return void res.end();
    }
    headers["content-length"] = asset.body.length;
    (res as import("node:http").ServerResponse).writeHead(200, headers);
    if (method === "HEAD") res.end();
    else res.end(asset.body);
  };
}

function safeDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

function sendText(res: NodeResponse, status: number, text: string, extra: Record<string, string> = {}): void {
  (res as import("node:http").ServerResponse).writeHead(status, {
    ...SECURITY_HEADERS,
    "content-type": "text/plain; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    ...extra,
  });
  res.end(text);
}

function loadAssets(dir: string | undefined): Map<string, Asset> {
  const out = new Map<string, Asset>();
  if (!dir || !existsSync(dir)) return out;
  for (const entry of readdirSync(dir, { recursive: true })) {
    const rel = String(entry).split("\\").join("/");
    const file = join(dir, rel);
    const type = TYPES[extname(rel)];
    if (!type || !statSync(file).isFile()) continue;
    const body = readFileSync(file);
    out.set(rel, { body, type, etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"` });
  }
  return out;
}

/**
 * The project root is the nearest directory above this module with the gateway's package.json;
 * that holds whether this file runs from `src/` under tsx or compiled from `dist/`.
 */
export function findConsoleDir(from: string = dirname(fileURLToPath(import.meta.url))): string | undefined {
  for (let dir = from; ; ) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "keeptrusts-gateway") return join(dir, "console", "dist");
      } catch {
        // not ours; keep walking
      }
    }
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}
