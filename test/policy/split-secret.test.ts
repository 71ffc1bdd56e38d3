import { describe, expect, it } from "vitest";
import { compilePolicyEngine } from "../../src/policy/index.js";
import { configWith } from "./helpers.js";

// A secret cut over two messages where the first part is a match on its own (an API key cut after
// twenty characters, a PEM block cut between its lines) used to send the rest upstream in clear:
// the finding across the boundary overlapped the first message's own finding and was dropped as a
// value merely running on into the next text. And only 400 characters each side of a boundary were
// looked at, so a PEM block cut in its header had its later lines go out as they were.

const engine = compilePolicyEngine(configWith([{ id: "p", rules: [{ type: "pii_detection", action: "redact", patterns: ["secret", "email"] }] }]));
const upstream = (...texts: string[]) =>
  ((engine.startRequest({ model: "m", messages: texts.map((content) => ({ role: "user", content })) } as never, "chat") as unknown as { body: { messages: { content: string }[] } }).body.messages).map((m) => m.content);

const line = (i: number) => ("MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC" + String(i).padStart(13, "0")).slice(0, 64);
const lines = Array.from({ length: 26 }, (_, i) => line(i));
const pem = `-----BEGIN PRIVATE KEY-----\n${lines.join("\n")}\n-----END PRIVATE KEY-----`;
const leaked = (out: string[]) => lines.filter((l) => out.join("\n").includes(l));

describe("a secret split over two messages", () => {
  it("an API key cut after twenty characters: no part of it goes upstream", () => {
    const out = upstream("my key is sk-proj-AAAAAAAAAAAAAAAAAAAA", "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB and that's it");
    expect(out.join("\n")).not.toContain("AAAAAAAAAAAAAAAA");
    expect(out.join("\n")).not.toContain("BBBBBBBBBBBBBBBB");
    expect(out[1]).toMatch(/^\[REDACTED:SECRET\] and that's it$/);
  });

  it("a PEM private key cut between two lines: none of its lines go upstream", () => {
    const cut = pem.indexOf(line(6));
    const out = upstream("my key, part 1:\n" + pem.slice(0, cut), pem.slice(cut) + "\nthanks");
    expect(leaked(out)).toEqual([]);
    expect(out[0]).toBe("my key, part 1:\n[REDACTED:SECRET]");
    expect(out[1]).toBe("[REDACTED:SECRET]\nthanks");
  });

  it("a PEM private key cut in its header: none of its lines go upstream, even past 400 characters", () => {
    const cut = pem.indexOf("PRIVATE");
    const out = upstream("here: " + pem.slice(0, cut), pem.slice(cut));
    expect(leaked(out)).toEqual([]);
    expect(out).toEqual(["here: [REDACTED:SECRET]", "[REDACTED:SECRET]"]);
  });

  it("a PEM block cut over three messages, the middle one shorter than the first window", () => {
    const a = pem.indexOf(line(3));
    const b = pem.indexOf(line(5));
    const out = upstream(pem.slice(0, a), pem.slice(a, b), pem.slice(b));
    expect(leaked(out)).toEqual([]);
  });

  it("a value that is whole in its message and only runs on into the next is not carried over (email)", () => {
    // "ops@example.com" + "My card" reads as one longer address across the boundary; the next
    // message's word is not part of it.
    expect(upstream("write to ops@example.com", "My card is in the post.")).toEqual(["write to [REDACTED:EMAIL]", "My card is in the post."]);
  });

  it("ordinary texts around the boundary are left alone", () => {
    expect(upstream("You are a helpful assistant.", "Please summarise the report.")).toEqual(["You are a helpful assistant.", "Please summarise the report."]);
  });
});
