import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Chunk } from "../../src/wire/index.js";
import { builtinPatternName, builtinPiiTypes, compilePolicyEngine } from "../../src/policy/index.js";
import { recognisersFor } from "../../src/policy/pii/index.js";
import { compileScanner, type Finding, type Scanner } from "../../src/policy/scan/index.js";
import { configWith } from "./helpers.js";
import { benign } from "./content-corpus.js";
import { corpus, decoys, score } from "./pii-names-corpus.js";
import { cutText } from "../helpers/cut-text.js";

const evaluated = ["person", "street_address", "postal_code", "date_of_birth"] as const;
const scanner = compileScanner(recognisersFor([...evaluated]));
const find = (text: string, s: Scanner = scanner) => s.scan(text).map((f) => ({ type: f.type, value: text.slice(f.start, f.end) }));

describe("language-level PII recognisers on the generated labelled set", () => {
  const result = score(corpus(), (t) => scanner.scan(t), evaluated);
  const by = Object.fromEntries(result.scores.map((s) => [s.type, s]));

  it("person: recall ≥ 0.85 at precision ≥ 0.90", () => {
    expect(by.person!.recall).toBeGreaterThanOrEqual(0.85);
    expect(by.person!.precision).toBeGreaterThanOrEqual(0.9);
  });

  it("street_address: recall ≥ 0.80 at precision ≥ 0.90", () => {
    expect(by.street_address!.recall).toBeGreaterThanOrEqual(0.8);
    expect(by.street_address!.precision).toBeGreaterThanOrEqual(0.9);
  });

  it("postal_code and date_of_birth: recall ≥ 0.80 at precision ≥ 0.90", () => {
    for (const t of ["postal_code", "date_of_birth"]) {
      expect(by[t]!.recall, t).toBeGreaterThanOrEqual(0.8);
      expect(by[t]!.precision, t).toBeGreaterThanOrEqual(0.9);
    }
  });

  it("no finding on at least 95% of the texts without such a value (decoys included)", () => {
    expect(result.cleanTotal).toBeGreaterThanOrEqual(decoys.length);
    expect(result.cleanShare, result.falses.join("\n")).toBeGreaterThanOrEqual(0.95);
  });

  it("keeps the project's benign texts clean", () => {
    const all = compileScanner(recognisersFor(builtinPiiTypes.filter((t) => t !== "location")));
    const hits = benign.filter((t) => all.scan(t).some((f) => (evaluated as readonly string[]).includes(f.type)));
    expect(hits.length / benign.length, hits.join("\n")).toBeLessThanOrEqual(0.05);
  });
});

describe("person", () => {
  it("finds names in any order and form", () => {
    expect(find("Dr. Jane Q. Doe will see you now.")).toEqual([{ type: "person", value: "Jane Q. Doe" }]);
    expect(find("Doe, Jane")).toEqual([{ type: "person", value: "Doe, Jane" }]);
    expect(find("hi, my name is jane doe and I need help")).toEqual([{ type: "person", value: "jane doe" }]);
    expect(find("Vincent van Gogh and Jean-Luc Picard met Mr. O'Brien.").map((f) => f.value)).toEqual(["Vincent van Gogh", "Jean-Luc Picard", "O'Brien"]);
  });

  it("takes names that are words only when the context says name", () => {
    expect(find("I told Will about it.")).toEqual([{ type: "person", value: "Will" }]);
    expect(find("Will you come tomorrow?")).toEqual([]);
    expect(find("Rose said yes.")).toEqual([{ type: "person", value: "Rose" }]);
    expect(find("The Rose Garden opens at noon.")).toEqual([]);
    expect(find("Hope is not a strategy.")).toEqual([]);
    expect(find("Hope Williams joined in April.")).toEqual([{ type: "person", value: "Hope Williams" }]);
  });

  it("tells Paris Hilton from Paris, Michael Jordan from Jordan, and leaves Apple alone", () => {
    expect(find("Photos of Paris Hilton went viral in Paris.")).toEqual([{ type: "person", value: "Paris Hilton" }]);
    expect(find("We flew to Jordan; Michael Jordan did not.")).toEqual([{ type: "person", value: "Michael Jordan" }]);
    expect(find("Apple and Tesla reported earnings in May.")).toEqual([]);
  });

  it("keeps places and identifiers that borrow a name apart from names that borrow a place word", () => {
    expect(find("the attack on Pearl Harbor")).toEqual([]);
    expect(find("keys are Ed25519")).toEqual([]);
    expect(find("Kim Park called; Mary Hill met Tom Ford.").map((f) => f.value)).toEqual(["Kim Park", "Mary Hill", "Tom Ford"]);
  });

  it("is redacted as [REDACTED:PERSON], and the pattern names resolve", async () => {
    expect(builtinPatternName("person")).toBe("person");
    expect(builtinPatternName("name")).toBe("person");
    expect(builtinPatternName("address")).toBe("street_address");
    expect(builtinPatternName("dob")).toBe("date_of_birth");
    const engine = compilePolicyEngine(configWith([{ id: "gov", rules: [{ type: "pii_detection", patterns: ["person", "street_address"] }] }]));
    const text = "Please ask Maria García to ship it to 221B Baker Street, London NW1 6XE.";
    const r = await engine.evaluateText(text, "request");
    expect(r.redactedText).toBe("Please ask [REDACTED:PERSON] to ship it to [REDACTED:STREET_ADDRESS].");
    // Findings carry offsets and types; events carry counts by type, never the value.
    expect(r.findings.map((f) => text.slice(f.start, f.end))).toEqual(["Maria García", "221B Baker Street, London NW1 6XE"]);
    expect(r.events[0]!.counts).toEqual({ person: 1, street_address: 1 });
    expect(JSON.stringify(r.events)).not.toContain("García");
  });
});

describe("street_address, postal_code, date_of_birth, location", () => {
  it("reads the five countries' forms and PO boxes", () => {
    for (const a of [
      "221B Baker Street, London NW1 6XE",
      "Musterstraße 12, 10115 Berlin",
      "1600 Pennsylvania Avenue NW, Washington, DC 20500",
      "12 rue de la Paix, 75002 Paris",
      "Flat 3, 12 High St, Oxford OX1 4AB",
      "5327 Mcmillan Heights Apt. 943",
      "P.O. Box 1234, Springfield, IL 62704",
      "Postfach 10 01 23",
    ])
      expect(find(`Send it to ${a}.`), a).toEqual([{ type: "street_address", value: a }]);
  });

  it("leaves street-like product names and plain numbers alone", () => {
    for (const t of ["Try the Park Avenue fragrance.", "We scored a 3 Point Shot.", "I bought 2 Park Place sets.", "Windows 11 Home Edition", "The code is 12345."])
      expect(find(t), t).toEqual([]);
  });

  it("postal codes need a shape of their own or a cue; birth dates need a birth word", () => {
    expect(find("My ZIP is 94105.")).toEqual([{ type: "postal_code", value: "94105" }]);
    expect(find("Is 94105 covered?")).toEqual([]);
    expect(find("postcode SW1A 1AA")).toEqual([{ type: "postal_code", value: "SW1A 1AA" }]);
    expect(find("DOB: 1980-05-12, seen on 2024-01-15")).toEqual([{ type: "date_of_birth", value: "1980-05-12" }]);
    expect(find("né le 3 mars 1975")).toEqual([{ type: "date_of_birth", value: "3 mars 1975" }]);
    expect(find("geboren am 12.05.1980")).toEqual([{ type: "date_of_birth", value: "12.05.1980" }]);
  });

  it("location is opt-in and knows places", () => {
    expect(find("We met in Paris, France and later in New York.")).toEqual([]);
    const withPlaces = compileScanner(recognisersFor(["location"]));
    expect(find("We met in Paris, France and later in New York.", withPlaces).map((f) => f.value)).toEqual(["Paris", "France", "New York"]);
    expect(find("It happened in Spring 2024.", withPlaces)).toEqual([]);
  });
});

describe("streaming", () => {
  const all = compileScanner(recognisersFor(builtinPiiTypes));
  const pieces = [
    ...corpus()
      .filter((_, i) => i % 7 === 0)
      .map((l) => l.text),
    "Dr. ", "Jane ", "Q. ", "Doe", ", ", "Baker ", "Street", "221B ", "NW1 ", "6XE", "straße ", "12", " ", "\n", "my name is ", "jane", "Will ", "said",
  ];

  it("positions before the frontier of any prefix are decided as in the whole text", () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...pieces), { minLength: 1, maxLength: 8 }), fc.nat(), (parts, at) => {
        const text = parts.join(" ");
        const k = at % (text.length + 1);
        const whole = all.scan(text);
        const prefix = text.slice(0, k);
        const f = all.frontier(prefix);
        const found: Finding[] = [];
        all.scanUntil(prefix, 0, f, found);
        expect(f).toBeLessThanOrEqual(k);
        expect(found).toEqual(whole.filter((x) => x.start < f));
      }),
      { numRuns: 200 },
    );
  });

  it("incremental: concat(guard(any chunking of T)) == guard(T)", async () => {
    const engine = compilePolicyEngine(
      configWith([{ id: "gov", rules: [{ type: "pii_detection", patterns: ["person", "street_address", "postal_code", "date_of_birth", "email"] }] }]),
    );
    const base = { id: "c", object: "chat.completion.chunk", created: 1, model: "M" };
    const stream = (ps: string[]): Chunk[] => [
      ...ps.map((content) => ({ ...base, choices: [{ index: 0, delta: { content }, logprobs: null, finish_reason: null }] })),
      { ...base, choices: [{ index: 0, delta: { content: "" }, logprobs: null, finish_reason: "stop" }] },
    ];
    async function run(ps: string[]): Promise<{ text: string; counts: Record<string, number> }> {
      const events: { counts: Record<string, number> }[] = [];
      let text = "";
      async function* src() {
        yield* stream(ps);
      }
      for await (const c of engine.guardStream(src(), "chat", "incremental", (e) => events.push(e)))
        text += ((c.choices as { delta?: { content?: string } }[])[0]?.delta?.content as string | undefined) ?? "";
      const counts: Record<string, number> = {};
      for (const e of events) for (const [k, v] of Object.entries(e.counts)) counts[k] = (counts[k] ?? 0) + v;
      return { text, counts };
    }
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom(...pieces), { minLength: 1, maxLength: 6 }), fc.array(fc.nat(600), { maxLength: 12 }), async (parts, cuts) => {
        const text = parts.join(" ");
        const chunks = cutText(text, cuts);
        const whole = await run([text]);
        const pieced = await run(chunks);
        expect(pieced).toEqual(whole);
        expect(whole.text).toBe((await engine.evaluateText(text, "response")).redactedText);
      }),
      { numRuns: 100 },
    );
  });
});
