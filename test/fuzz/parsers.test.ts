/**
 * Property tests of the parsers that take untrusted input: whatever they are given, they either
 * succeed or throw their own error class (ConfigError, GatewayError) — never a TypeError, a
 * RangeError or a stack overflow that would surface as a 500 or a crash.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { ConfigError, parseConfig } from "../../src/config/index.js";
import { validateRequest } from "../../src/chat/index.js";
import { GatewayError } from "../../src/errors/index.js";
import { nestingExceeds } from "../../src/server/http-body.js";

const ENV = { KT_SET: "value" };

function onlyConfigError(text: string): void {
  try {
    parseConfig(text, "fuzz.yaml", ENV);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw new Error(`parseConfig threw ${(e as Error)?.name}: ${(e as Error)?.message}`, { cause: e });
    for (const i of e.issues) {
      expect(i.line).toBeGreaterThanOrEqual(1);
      expect(i.col).toBeGreaterThanOrEqual(1);
      expect(typeof i.field).toBe("string");
    }
  }
}

/** YAML-ish text: lines built from YAML's structural tokens and config words. */
const yamlish = fc
  .array(
    fc.tuple(
      fc.integer({ min: 0, max: 8 }),
      fc.array(
        fc.oneof(
          fc.constantFrom(
            "providers:", "targets:", "- ", "id:", "provider:", "base_url:", "model:", "weight:", "timeout_seconds:", "policies:", "policy:",
            "chain:", "audit-logger:", "pack:", "auth:", "api_keys:", "limits:", "streaming:", "mode:", "rules:", "type:", "patterns:",
            "secret_key_ref:", "env:", "openllm:chat:llama3:8b", "http://localhost:3000/v1", "&a", "*a", "<<:", "!!str", "!!binary", "!tag",
            "{", "}", "[", "]", ",", ":", "?", "|", ">", "#", "'", '"', "---", "...", "%YAML 1.2", "~", "null", "true", "1e999", "-0", "0x1F",
            "__proto__", "constructor", "prototype", "\t", "\u0000", "\ufeff", "é", "🦙",
          ),
          fc.string({ maxLength: 8 }),
        ),
        { maxLength: 6 },
      ),
    ),
    { maxLength: 12 },
  )
  .map((lines) => lines.map(([indent, toks]) => " ".repeat(indent) + toks.join(" ")).join("\n"));

const scalar = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.constantFrom("openllm", "openllm:chat:llama3:8b-instruct", "openllm:completion:x", "http://127.0.0.1:1/v1", "ftp://x/v1", "__proto__", "KT_SET", "KT_UNSET"),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
);

/** Objects shaped like a config, with any field swapped for a wrong type or a hostile value. */
const configShaped = fc.record(
  {
    pack: fc.oneof(scalar, fc.record({ name: scalar, version: scalar, enabled: scalar }, { requiredKeys: [] })),
    auth: fc.record({ api_keys: fc.oneof(scalar, fc.array(fc.record({ id: scalar, sha256: scalar, secret_key_ref: fc.oneof(scalar, fc.record({ env: scalar })), scopes: fc.oneof(scalar, fc.array(scalar)) }, { requiredKeys: [] }), { maxLength: 3 })) }, { requiredKeys: [] }),
    providers: fc.oneof(
      scalar,
      fc.record({
        targets: fc.oneof(
          scalar,
          fc.array(
            fc.record(
              {
                id: scalar, provider: scalar, model: scalar, base_url: scalar, weight: scalar, timeout_seconds: scalar, idle_timeout_seconds: scalar,
                health_probe: scalar, format: scalar, secret_key_ref: fc.oneof(scalar, fc.record({ env: scalar })), extra: scalar,
              },
              { requiredKeys: [] },
            ),
            { maxLength: 4 },
          ),
        ),
      }),
    ),
    policies: fc.oneof(scalar, fc.record({ chain: fc.oneof(scalar, fc.array(fc.oneof(scalar, fc.constantFrom("audit-logger", "p")), { maxLength: 3 })) }), fc.array(fc.record({ id: scalar, rules: fc.oneof(scalar, fc.array(fc.record({ type: fc.oneof(scalar, fc.constantFrom("pii_detection", "content_filter")), action: scalar, patterns: fc.oneof(scalar, fc.array(scalar)), categories: fc.oneof(scalar, fc.array(scalar)), engine: fc.oneof(scalar, fc.constant("llama_guard")), target: scalar }, { requiredKeys: [] }), { maxLength: 2 })) }, { requiredKeys: [] }), { maxLength: 2 })),
    policy: fc.oneof(scalar, fc.dictionary(fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom("audit-logger", "p", "__proto__", "constructor")), fc.oneof(scalar, fc.record({ path: scalar, retention_days: scalar, rules: scalar }, { requiredKeys: [] })), { maxKeys: 3 })),
    streaming: fc.oneof(scalar, fc.record({ mode: scalar })),
    limits: fc.oneof(scalar, fc.record({ max_concurrent_streams: scalar, max_json_depth: scalar, max_streams_per_key: scalar }, { requiredKeys: [] })),
  },
  { requiredKeys: [] },
);

describe("parseConfig throws nothing but ConfigError", () => {
  it("for YAML-ish text", () => {
    fc.assert(fc.property(yamlish, onlyConfigError), { numRuns: 1500 });
  });

  it("for arbitrary text", () => {
    fc.assert(fc.property(fc.string({ maxLength: 200, unit: "binary" }), onlyConfigError), { numRuns: 1000 });
  });

  it("for arbitrary JSON values rendered as YAML", () => {
    fc.assert(fc.property(fc.jsonValue({ maxDepth: 5 }), (v) => onlyConfigError(stringify(v))), { numRuns: 1000 });
  });

  it("for config-shaped objects with wrong types and hostile values, rendered as YAML and as JSON", () => {
    fc.assert(
      fc.property(configShaped, (v) => {
        onlyConfigError(stringify(v));
        onlyConfigError(JSON.stringify(v));
      }),
      { numRuns: 1500 },
    );
  });

  it.each([
    ["alias bomb (billion laughs)", `a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n`],
    ["undefined alias", "providers: *nope\n"],
    ["recursive merge key", "a: &a { <<: *a }\n"],
    ["deep flow nesting", `providers: ${"[".repeat(5000)}${"]".repeat(5000)}\n`],
    ["deep block nesting", Array.from({ length: 500 }, (_, i) => `${" ".repeat(i)}k:`).join("\n")],
    ["binary tag", "providers: !!binary aGVsbG8=\n"],
    ["unknown tag", "providers: !custom { a: 1 }\n"],
    ["multi-document", "providers: {}\n---\nproviders: {}\n"],
    ["__proto__ keys", "__proto__: { polluted: true }\nproviders: { targets: [ { id: a, provider: openllm:chat:x, __proto__: {} } ] }\n"],
    ["duplicate keys", "providers: {}\nproviders: {}\n"],
    ["huge number", `providers: { targets: [ { id: a, provider: "openllm:chat:x", weight: 1e999, timeout_seconds: -1e999 } ] }\n`],
  ])("for %s", (_name, text) => {
    onlyConfigError(text);
    expect(({} as any).polluted).toBeUndefined();
  });
});

describe("request parsers throw nothing but GatewayError", () => {
  it("nestingExceeds never throws and agrees with the real depth of valid JSON", () => {
    const depthOf = (v: unknown): number => (v !== null && typeof v === "object" ? 1 + Math.max(0, ...Object.values(v as object).map(depthOf)) : 0);
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 12 }), fc.integer({ min: 0, max: 14 }), (v, max) => {
        const bytes = Buffer.from(JSON.stringify(v) ?? "null");
        expect(nestingExceeds(bytes, max)).toBe(depthOf(v) > max);
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 100 }), (bytes, max) => {
        expect(typeof nestingExceeds(bytes, max)).toBe("boolean");
      }),
      { numRuns: 2000 },
    );
  });

  it("validateRequest either accepts or throws a 400 GatewayError naming a param, for any value", () => {
    const check = (body: unknown, op: "chat" | "completion") => {
      try {
        validateRequest(body, op);
        expect(typeof (body as { model: unknown }).model).toBe("string");
      } catch (e) {
        if (!(e instanceof GatewayError)) throw new Error(`validateRequest threw ${(e as Error)?.name}: ${(e as Error)?.message}`, { cause: e });
        expect(e.code).toBe("KT_ERR_INVALID_REQUEST");
        expect(e.status).toBe(400);
      }
    };
    const message = fc.record(
      {
        role: fc.oneof(fc.constantFrom("system", "developer", "user", "assistant", "tool", "function", "constructor", "__proto__", "toString"), fc.anything()),
        content: fc.oneof(fc.string(), fc.constant(null), fc.array(fc.anything(), { maxLength: 3 }), fc.anything()),
        name: fc.anything(),
      },
      { requiredKeys: [] },
    );
    const requestish = fc.record(
      {
        model: fc.oneof(fc.string({ maxLength: 10 }), fc.anything()),
        messages: fc.oneof(fc.array(fc.oneof(message, fc.anything()), { maxLength: 5 }), fc.anything()),
        prompt: fc.oneof(fc.string(), fc.array(fc.string(), { maxLength: 3 }), fc.array(fc.integer(), { maxLength: 3 }), fc.array(fc.array(fc.integer(), { maxLength: 3 }), { maxLength: 3 }), fc.anything()),
        stream: fc.oneof(fc.boolean(), fc.anything()),
      },
      { requiredKeys: [] },
    );
    const anyValue = fc.anything({ withNullPrototype: true, withObjectString: true, withBoxedValues: true, withMap: true, withSet: true, withTypedArray: true, withSparseArray: true, withDate: true, withBigInt: true });
    fc.assert(
      fc.property(fc.oneof(requestish, anyValue), fc.constantFrom("chat" as const, "completion" as const), (body, op) => check(body, op)),
      { numRuns: 3000 },
    );
    // JSON-parsed bodies, as the shim hands them over (own __proto__ keys included).
    fc.assert(
      fc.property(fc.oneof(requestish, fc.jsonValue()), fc.constantFrom("chat" as const, "completion" as const), (v, op) => {
        const text = JSON.stringify(v);
        if (text === undefined) return;
        check(JSON.parse(text.replace(/"name":/g, '"__proto__":')), op);
      }),
      { numRuns: 2000 },
    );
  });
});
