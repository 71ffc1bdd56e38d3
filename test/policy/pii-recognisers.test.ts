import { describe, expect, it } from "vitest";
import { builtinPiiTypes, recognisersFor, isValidIban, isValidNhsNumber } from "../../src/policy/pii/index.js";
import { compileScanner } from "../../src/policy/scan/index.js";
import { card, digits, ibanFor, rng, spaced } from "./helpers.js";

const all = compileScanner(recognisersFor(builtinPiiTypes));
const types = (text: string) => all.scan(text).map((f) => ({ type: f.type, value: text.slice(f.start, f.end) }));

const issuers: [string, number][] = [
  ["4", 16], ["4", 13], ["4", 19], ["51", 16], ["55", 16], ["2221", 16], ["2720", 16], ["34", 15], ["37", 15],
  ["6011", 16], ["65", 16], ["644", 19], ["3528", 16], ["3589", 19], ["36", 14], ["300", 14], ["38", 16], ["62", 16], ["62", 19],
];
const templates = [
  (v: string) => `My card is ${v}, please charge it.`,
  (v: string) => `${v}`,
  (v: string) => `Payment details: ${v}.`,
  (v: string) => `card=${v}\nnext line`,
  (v: string) => `(${v})`,
];

describe("recognisers: recall on generated valid values", () => {
  const r = rng(42);

  it("credit cards across issuers, compact, spaced and dashed", () => {
    let n = 0;
    for (let i = 0; i < 400; i++) {
      const [prefix, len] = issuers[i % issuers.length]!;
      const num = card(r, prefix, len);
      const form = i % 3 === 0 ? num : i % 3 === 1 ? (len === 15 ? `${num.slice(0, 4)} ${num.slice(4, 10)} ${num.slice(10)}` : spaced(num)) : spaced(num).replace(/ /g, "-");
      const text = templates[i % templates.length]!(form);
      expect(types(text), text).toContainEqual({ type: "credit_card", value: form });
      n++;
    }
    expect(n).toBe(400);
  });

  it("SSNs with valid area, group and serial", () => {
    for (let i = 0; i < 300; i++) {
      let area = 1 + Math.floor(r() * 898);
      if (area === 666) area = 667;
      const v = `${String(area).padStart(3, "0")}-${String(1 + Math.floor(r() * 99)).padStart(2, "0")}-${String(1 + Math.floor(r() * 9999)).padStart(4, "0")}`;
      const form = i % 2 ? v : v.replace(/-/g, " ");
      const text = `SSN: ${form} on file`;
      expect(types(text), text).toContainEqual({ type: "ssn", value: form });
    }
  });

  it("IBANs for many countries, compact and grouped", () => {
    const countries: [string, number][] = [["GB", 22], ["DE", 22], ["FR", 27], ["NL", 18], ["ES", 24], ["IT", 27], ["NO", 15], ["CH", 21], ["PL", 28], ["BE", 16], ["SE", 24], ["AT", 20]];
    for (let i = 0; i < 240; i++) {
      const [c, len] = countries[i % countries.length]!;
      const iban = ibanFor(r, c, len);
      expect(isValidIban(iban)).toBe(true);
      const form = i % 2 ? iban : spaced(iban);
      const text = `Please wire to ${form} by Friday.`;
      expect(types(text), text).toContainEqual({ type: "iban", value: form });
    }
    expect(isValidIban("GB82WEST12345698765432")).toBe(true);
  });

  it("emails, phones and IP addresses", () => {
    const locals = ["john", "jane.doe", "a.b-c+tag", "x_y", "first.last99"];
    const domains = ["example.com", "mail.example.co.uk", "corp-1.io", "sub.domain.org"];
    for (let i = 0; i < 100; i++) {
      const e = `${locals[i % locals.length]}${i}@${domains[i % domains.length]}`;
      expect(types(`Write to ${e}.`)).toContainEqual({ type: "email", value: e });
    }
    const phones = ["(415) 555-2671", "415-555-2671", "415.555.2671", "+1 415 555 2671", "1-800-555-0199", "+44 20 7946 0958", "+49 30 901820", "+33 1 23 45 67 89", "+81-3-1234-5678"];
    for (const p of phones) expect(types(`Call me at ${p} tomorrow`), p).toContainEqual({ type: "phone", value: p });
    // A list of numbers with only spaces between them: every one is found (each was refused as the
    // continuation of the one before it, so a list leaked whole).
    const lists: [string, string][] = [["(415) 555-2671", "(415) 555-2672"], ["415-555-2671", "415-555-2672"], ["415.555.2671", "415.555.2672"], ["+1 415 555 2671", "+1 415 555 2672"], ["1-800-555-0199", "1-800-555-0198"], ["+44 20 7946 0958", "+33 1 23 45 67 89"], ["212 555 0147", "212 555 0148"]];
    for (const [a, b] of lists)
      for (const gap of [" ", "  ", "   ", " / ", " - "]) {
        const found = types(`phones: ${a}${gap}${b}${gap}${a} end`).map((f) => f.value);
        expect(found, `${a}${gap}${b}`).toEqual([a, b, a]);
      }
    // Bare ten-digit numbers need a phone word before them, a list of them too.
    expect(types("call 4155552671 4155552672 or 2125550147").map((f) => f.value)).toEqual(["4155552671", "4155552672", "2125550147"]);
    for (let i = 0; i < 100; i++) {
      const ip = [0, 1, 2, 3].map(() => Math.floor(r() * 256)).join(".");
      expect(types(`host ${ip} is down`)).toContainEqual({ type: "ip_address", value: ip });
    }
    for (const ip of ["2001:db8::1", "fe80::1ff:fe23:4567:890a", "::1", "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "::ffff:192.0.2.128"])
      expect(types(`addr ${ip} ok`), ip).toContainEqual({ type: "ip_address", value: ip });
  });

  it("passport, NHS, wallets and secrets", () => {
    expect(types("US passport number: 123456789")).toContainEqual({ type: "us_passport", value: "123456789" });
    expect(isValidNhsNumber("9434765919")).toBe(true);
    expect(types("NHS 943 476 5919")).toContainEqual({ type: "uk_nhs", value: "943 476 5919" });
    expect(types("nhs number 9434765919")).toContainEqual({ type: "uk_nhs", value: "9434765919" });
    for (const w of ["1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "0x52908400098527886E0F7030069857D2E4169EE7"])
      expect(types(`send to ${w} now`), w).toContainEqual({ type: "crypto_wallet", value: w });
    const jwt = `${Buffer.from('{"alg":"HS256","typ":"JWT"}').toString("base64url")}.${Buffer.from('{"sub":"1"}').toString("base64url")}.c2lnbmF0dXJlX2J5dGVz`;
    const pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn\nabcdEFGH1234==\n-----END RSA PRIVATE KEY-----";
    for (const s of ["sk-proj-abcdefghijklmnopqrstuvwxyz012345", "AKIAIOSFODNN7EXAMPLE", `ghp_${"a1B2".repeat(9)}`, "xoxb-1234567890-abcdefghij", jwt, pem, "Bearer abcdef0123456789abcdef"])
      expect(types(`token: ${s} end`), s).toContainEqual({ type: "secret", value: s });
  });
});

describe("recognisers: look-alikes survive", () => {
  const r = rng(7);
  const survivors = [
    "Order #123456789 shipped",
    "Released on 2024-01-15 at 10:30:45",
    "Total: $1,234.56 (was $2,345.67)",
    "Upgrade to version 1.2.3 today",
    "Version 1.2.3.4.5 is out, see v1.2.3.4",
    "SSN 000-12-3456 and 666-12-3456 and 900-12-3456 and 123-00-4567 and 123-45-0000",
    "Invoice 2024-000123, ref 12-345-678",
    "ISBN 978-3-16-148410-0",
    "Octets 256.1.1.1 and 1.2.3.999 are not addresses",
    "Time 12:30:45 and ratio 16:9 and std::vector",
    "IBAN GB00 WEST 1234 5698 7654 32 has a bad check",
    "Call 555-0199 or ext. 1234",
    "Tracking 1Z999AA10123456784",
    "Pi is 3.14159265358979",
    "NHS number 9434765918 fails its check digit",
    "Big number 1234567890123",
    "Digits grouped by spaces continue a number: 123 456 7890 123 and 4111 1111 1112",
    "An id cut at its own dash: 415-555-2671-1234",
    "Ten-digit ids, no word before them: 4155552671 4155552672",
  ];
  it.each(survivors)("%s", (text) => {
    expect(types(text)).toEqual([]);
  });

  it("16-digit numbers failing Luhn are not cards", () => {
    let kept = 0;
    for (let i = 0; i < 200; i++) {
      const good = card(r, "4", 16);
      const bad = good.slice(0, 15) + ((Number(good[15]) + 1 + Math.floor(r() * 9)) % 10);
      const found = types(`number ${spaced(bad)} here`).filter((f) => f.type === "credit_card");
      if (found.length === 0) kept++;
    }
    expect(kept).toBe(200);
  });

  it("random digit runs are rarely cards (issuer + Luhn)", () => {
    let hits = 0;
    for (let i = 0; i < 1000; i++) if (types(`id ${digits(r, 16)} x`).some((f) => f.type === "credit_card")) hits++;
    expect(hits).toBeLessThan(60);
  });
});

describe("overlap resolution", () => {
  it("takes the longest match at the leftmost position and never overlaps", () => {
    const text = "mail a@b.co, card 4111-1111-1111-1111, ip 10.0.0.1, iban GB82 WEST 1234 5698 7654 32";
    const f = all.scan(text);
    for (let i = 1; i < f.length; i++) expect(f[i]!.start).toBeGreaterThanOrEqual(f[i - 1]!.end);
    expect(f.map((x) => x.type)).toEqual(["email", "credit_card", "ip_address", "iban"]);
  });
});
