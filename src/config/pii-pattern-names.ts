// The vocabulary of built-in PII pattern names a config may use. It lives in config (not in
// policy) so validation can name a wrong pattern with its line without config standing on the
// policy engine; src/policy implements a recogniser set for every name here.

export const builtinPiiTypes = [
  "ssn",
  "credit_card",
  "email",
  "phone",
  "iban",
  "ip_address",
  "us_passport",
  "uk_nhs",
  "crypto_wallet",
  "secret",
  "person",
  "street_address",
  "postal_code",
  "date_of_birth",
  "location",
] as const;

export type BuiltinPiiType = (typeof builtinPiiTypes)[number];

/** Names people reach for in configs, mapped to the canonical pattern name. */
const aliases: Readonly<Record<string, BuiltinPiiType>> = {
  phone_number: "phone",
  ip: "ip_address",
  ipv4: "ip_address",
  ipv6: "ip_address",
  api_key: "secret",
  secrets: "secret",
  passport: "us_passport",
  nhs_number: "uk_nhs",
  credit_card_number: "credit_card",
  name: "person",
  person_name: "person",
  address: "street_address",
  zip: "postal_code",
  zip_code: "postal_code",
  postcode: "postal_code",
  dob: "date_of_birth",
  birth_date: "date_of_birth",
};

export function builtinPatternName(name: string): BuiltinPiiType | undefined {
  const n = name.toLowerCase();
  if ((builtinPiiTypes as readonly string[]).includes(n)) return n as BuiltinPiiType;
  return aliases[n];
}

