import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { compilePolicyEngine } from "../../src/policy/index.js";
import { normalise, toSource, ViewBuilder } from "../../src/policy/scan/index.js";
import { warmScanPool } from "../helpers/scan-pool.js";
import { configWith } from "./helpers.js";

const engine = compilePolicyEngine(
  configWith([{ id: "p", rules: [{ type: "pii_detection", patterns: ["email", "credit_card", "ssn", "phone", "iban", "ip_address"] }] }]),
);
const redact = async (t: string) => (await engine.evaluateText(t, "request")).redactedText;

describe("normalised view", () => {
  it("is the text itself for plain ASCII (no copy, no map)", () => {
    const t = "hello world, order 12345 at 10:00";
    const v = normalise(t);
    expect(v.text).toBe(t);
    expect(v.map).toBeUndefined();
  });

  it("reads full-width forms as ASCII, drops invisibles, unifies spaces and dashes, decodes %XX", () => {
    expect(normalise("\uff14\uff11\uff11\uff11").text).toBe("4111");
    expect(normalise("jane\uff20example.com").text).toBe("jane@example.com");
    expect(normalise("ja\u200bne\u00ad\u202e\ufe0f").text).toBe("jane");
    expect(normalise("a\u00a0b\u3000c\u2009d").text).toBe("a b c d");
    expect(normalise("1\u20112\u20143\u22124").text).toBe("1-2-3-4");
    expect(normalise("jane.doe%40example.com").text).toBe("jane.doe@example.com");
    expect(normalise("m%C3%BCller").text).toBe("müller");
    expect(normalise("?q=call+me&x=a+b and c+d").text).toBe("?q=call me&x=a b and c+d");
    expect(normalise("john.roe\\u0040example.org", true).text).toBe("john.roe@example.org");
    expect(normalise("john.roe\\u0040example.org", false).text).toBe("john.roe\\u0040example.org");
  });

  it("maps a view span back to exactly the source characters that produced it", () => {
    const t = "x ja\u200bne\uff20ex\u00adample.com y";
    const v = normalise(t);
    const s = v.text.indexOf("jane");
    const e = v.text.indexOf(".com") + 4;
    const src = toSource(v, s, e);
    expect(t.slice(src.start, src.end)).toBe("ja\u200bne\uff20ex\u00adample.com");
  });

  it("lone surrogates pass through as themselves", () => {
    const t = "a\ud800b\udc00c";
    expect(normalise(t).text).toBe(t);
  });

  it("built piece by piece equals built whole, for any cut (property)", () => {
    const alphabet = ["a", "1", " ", "%", "4", "0", "C", "3", "A", "+", "?", "=", "&", "\\", "u", "\u200b", "\uff14", "\u00a0", "\ud83d", "\ude00", "\u2011", "é"];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...alphabet), { maxLength: 60 }), fc.array(fc.nat(80)), fc.boolean(), (chars, cuts, json) => {
        const text = chars.join("");
        const whole = normalise(text, json);
        const b = new ViewBuilder(json);
        let consumed = 0;
        let src = "";
        const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((x, y) => x - y);
        let at = 0;
        for (const p of [...points, text.length]) {
          src += text.slice(at, p);
          at = p;
          consumed += b.append(src.slice(consumed), consumed, false);
        }
        consumed += b.append(src.slice(consumed), consumed, true);
        expect(consumed).toBe(text.length);
        expect(b.view).toBe(whole.text);
        for (let i = 0; i < whole.text.length; i++)
          expect([b.toSourceStart(i, text.length), b.toSourceEnd(i + 1)]).toEqual(Object.values(toSource(whole, i, i + 1)));
      }),
      { numRuns: 500 },
    );
  });

  it("redactions cover what the user wrote, invisible characters included", async () => {
    expect(await redact("card \uff14\uff11\uff11\uff11 \uff11\uff11\uff11\uff11 \uff11\uff11\uff11\uff11 \uff11\uff11\uff11\uff11 ok")).toBe("card [REDACTED:CREDIT_CARD] ok");
    expect(await redact("mail ja\u200bne@exa\u00admple.com now")).toBe("mail [REDACTED:EMAIL] now");
    expect(await redact("mail jane\uff20example.com now")).toBe("mail [REDACTED:EMAIL] now");
    expect(await redact("card 4111\u00a01111\u00a01111\u00a01111.")).toBe("card [REDACTED:CREDIT_CARD].");
    expect(await redact("ssn 123\u201145\u20116789.")).toBe("ssn [REDACTED:SSN].");
    expect(await redact("see https://x.test/?email=jane.doe%40example.com&y=2")).toBe("see https://x.test/?email=[REDACTED:EMAIL]&y=2");
  });
});

describe("bad input gets an answer", () => {
  // The long cases go to the scan pool, whose workers boot through tsx here (seconds on a loaded
  // machine): booted before the test, so its time limit covers the evaluation, not the start-up.
  beforeAll(warmScanPool, 120_000);

  it("lone surrogates, long digit and separator runs, a@a.a.a…, invisible runs: no finding, text kept", async () => {
    const cases = [
      "\ud800a\udc00b".repeat(20_000),
      Array.from({ length: 200_000 }, (_, i) => "0123456789 -./"[(i * 7919) % 14]).join(""),
      "a@" + "a.".repeat(50_000),
      "a@".repeat(50_000),
      "\u200b\uff14".repeat(50_000),
      "%".repeat(50_000) + "%4",
    ];
    for (const t of cases) {
      const r = await engine.evaluateText(t, "request");
      expect(r.findings.filter((f) => f.type !== "credit_card" && f.type !== "phone")).toEqual([]);
      if (r.findings.length === 0) expect(r.redactedText).toBe(t);
    }
  });
});
