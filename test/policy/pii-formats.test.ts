import { describe, expect, it } from "vitest";
import { compilePolicyEngine } from "../../src/policy/index.js";
import { configWith } from "./helpers.js";

const ALL = ["ssn", "credit_card", "email", "phone", "iban", "ip_address", "us_passport", "uk_nhs", "crypto_wallet", "secret"];
const engine = compilePolicyEngine(
  configWith([{ id: "p", rules: [{ type: "pii_detection", patterns: ALL, regions: ["US", "GB", "DE", "FR", "IN"], obfuscated: true }] }]),
);
const usOnly = compilePolicyEngine(configWith([{ id: "p", rules: [{ type: "pii_detection", patterns: ALL }] }]));

async function found(text: string, e = engine): Promise<{ type: string; value: string }[]> {
  const r = await e.evaluateText(text, "request");
  return r.findings.map((f) => ({ type: f.type, value: text.slice(f.start, f.end) }));
}

/** Every case: a sentence, the value as written in it, its type. */
const cases: [string, string][] = [
  // Cards: every separator, mixed and doubled, full-width, invisible characters, other networks.
  ["credit_card", "4111.1111.1111.1111"],
  ["credit_card", "4111/1111/1111/1111"],
  ["credit_card", "4111 - 1111 - 1111 - 1111"],
  ["credit_card", "4111-1111 1111.1111"],
  ["credit_card", "4111  1111  1111  1111"],
  ["credit_card", "4111\u00a01111\u00a01111\u00a01111"],
  ["credit_card", "4111\n1111\n1111\n1111"],
  ["credit_card", "\uff14\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11"],
  ["credit_card", "4111\u200b1111\u200b1111\u200b1111"],
  ["credit_card", "4111\u00ad1111\u00ad1111\u00ad1111"],
  ["credit_card", "6759 6498 2643 8453"], // Maestro
  ["credit_card", "5018 0000 0009"], // Maestro, 12 digits printed
  ["credit_card", "213100000000001"], // JCB 15
  ["credit_card", "180000000000002"], // JCB 15
  ["credit_card", "6212345678901265"], // UnionPay
  ["credit_card", "30569309025904"], // Diners 14
  ["credit_card", "2200 0000 0000 0004"], // Mir
  ["credit_card", "6521 0000 0000 0007"], // RuPay
  ["credit_card", "5061 0000 0000 0000 007"], // Verve 19
  // IBAN: any case, dashes.
  ["iban", "gb42nawi04454264788619"],
  ["iban", "Gb82 West 1234 5698 7654 32"],
  ["iban", "DE89-3704-0044-0532-0130-00"],
  ["iban", "de89370400440532013000"],
  // SSN
  ["ssn", "123.45.6789"],
  ["ssn", "123-45-6789"],
  ["ssn", "123 45 6789"],
  // Phones: national formats of the configured regions, extensions, trailing words.
  ["phone", "020 7946 0018"],
  ["phone", "07700 900123"],
  ["phone", "030 1234567"],
  ["phone", "01 23 45 67 89"],
  ["phone", "06.12.34.56.78"],
  ["phone", "098765 43210"],
  ["phone", "(415) 555-2671 x123"],
  ["phone", "415-555-2671 ext. 12"],
  ["phone", "+1 415 555 2671"],
  ["phone", "+44 20 7946 0958"],
  ["phone", "+49 30 901820"],
  ["phone", "+91 98765 43210"],
  ["phone", "\uff0b\uff14\uff14 20 7946 0958"],
  // Emails: IDN, punycode, full-width @, zero-width, non-ASCII local part, spelled out.
  ["email", "jane@ex\u00e4mple.de"],
  ["email", "jane.m\u00fcller@example.com"],
  ["email", "jane@xn--exmple-cua.de"],
  ["email", "user@\u4f8b\u3048.\u30c6\u30b9\u30c8"],
  ["email", "jane\uff20example.com"],
  ["email", "ja\u200bne@example.com"],
  ["email", "jane [at] example [dot] com"],
  ["email", "jane(at)example(dot)com"],
  ["email", "jane at example dot com"],
  ["email", "jane_doe@example.com"],
  // IPs after a key, values joined by _.
  ["ip_address", "2001:db8::1"],
  ["ip_address", "192.168.0.1"],
];

describe("PII in every common form", () => {
  it.each(cases)("%s: %j", async (type, value) => {
    for (const text of [`Here: ${value}.`, `${value}`, `value is ${value}, thanks`]) expect(await found(text), text).toContainEqual({ type, value });
  });

  it("an IPv6 address after `key:` and values joined by _", async () => {
    expect(await found("key:2001:db8::1")).toContainEqual({ type: "ip_address", value: "2001:db8::1" });
    expect(await found("ip:fe80::1ff:fe23:4567:890a ok")).toContainEqual({ type: "ip_address", value: "fe80::1ff:fe23:4567:890a" });
    expect(await found("addr_192.168.0.1_end")).toContainEqual({ type: "ip_address", value: "192.168.0.1" });
    expect(await found("card_4111111111111111_x")).toContainEqual({ type: "credit_card", value: "4111111111111111" });
    expect(await found("ssn_123-45-6789_x")).toContainEqual({ type: "ssn", value: "123-45-6789" });
    expect(await found("user_iban_GB82WEST12345698765432")).toContainEqual({ type: "iban", value: "GB82WEST12345698765432" });
  });

  it("a NANP number followed by an extension or a word: the match is the number (and its extension)", async () => {
    expect(await found("call 555-234-5678-Fax now")).toContainEqual({ type: "phone", value: "555-234-5678" });
    expect(await found("call 555-234-5678 x123 now")).toContainEqual({ type: "phone", value: "555-234-5678 x123" });
    expect(await found("call 555-234-5678x123 now")).toContainEqual({ type: "phone", value: "555-234-5678x123" });
  });

  it("SSN without separators only next to an SSN word", async () => {
    expect(await found("my SSN: 123456789")).toContainEqual({ type: "ssn", value: "123456789" });
    expect(await found("order 123456789 shipped")).toEqual([]);
  });

  it("bare 10-digit runs are phones only next to a phone word", async () => {
    expect(await found("call me on 4155552671")).toContainEqual({ type: "phone", value: "4155552671" });
    expect(await found("invoice 4155552671 is due")).toEqual([]);
  });

  it("national formats only for the configured regions (default US)", async () => {
    expect(await found("ring 020 7946 0018 today", usOnly)).toEqual([]);
    expect(await found("ring +44 20 7946 0018 today", usOnly)).toContainEqual({ type: "phone", value: "+44 20 7946 0018" });
  });

  it("card number in a URL query, percent-encoded email: the encoded span is redacted", async () => {
    const r = await engine.evaluateText("GET /u?email=jane.doe%40example.com&n=1 and /p?card=4111%201111%201111%201111", "request");
    expect(r.redactedText).toBe("GET /u?email=[REDACTED:EMAIL]&n=1 and /p?card=[REDACTED:CREDIT_CARD]");
    const q = await engine.evaluateText("GET /s?q=call+me+at+%2B44+20+7946+0958&x=y", "request");
    expect(q.redactedText).toBe("GET /s?q=call+me+at+[REDACTED:PHONE]&x=y");
  });
});

const decoys = [
  "Order #123456789 shipped on 2024-01-15",
  "ISBN 978-3-16-148410-0 and ISBN-13 9783161484100",
  "UUID 123e4567-e89b-12d3-a456-426614174000",
  "version 1.2.3, v10.4.11.2, build 2024.01.15.1234",
  "timestamp 2024-01-15T10:30:45.123Z, epoch 1705314645123",
  "Tracking 1Z999AA10123456784, USPS 9400 1000 0000 0000 0000 00, FedEx 7489 2345 6789",
  "4111 1111 1111 1112 fails Luhn; so does 4111.1111.1111.1112 and 4111/1111/1111/1112",
  "Dates 12/25/2024, 25.12.2024, 2024/12/25 and 2024-12-25 10:30",
  "Prices $1,234.56, €2.345,67, 1 234 567.89 and 4 111 111.11",
  "Meeting at 10.30, room 4.12, floor 3/4",
  "Coordinates 51.5074, -0.1278 and 40.7128 -74.0060",
  "Reference 2024-000123-45, PO 12-345-678, part 555-1234",
  "The year 2024 2025 2026 2027 and counts 10 20 30 40 50 60 70",
  "Call 555-0199 or ext. 1234",
  "hex 0x1f2e3d4c, mac 00:1A:2B:3C:4D:5E, time 12:30:45, ratio 16:9, std::vector",
  "Serial SN-4111-1111-1111-1111-2222 and account 000123456789",
  "chapter 4.1.1.1.1.1, IP-like 1.2.3.4.5",
  "Please meet at home. We eat at noon dot",
  "see id 0123 4567 8901 in the table",
  "scores 98 76 54 32 10 98 76 54",
  "dimensions 1920x1080, 3840 x 2160",
  "phone-like 123-456-7890 placeholder and 000-000-0000",
];

describe("precision: look-alikes are kept", () => {
  it.each(decoys)("%s", async (text) => {
    expect(await found(text)).toEqual([]);
  });
});
