import { type BuiltinPiiType } from "../../config/index.js";
import type { Recogniser } from "../scan/index.js";
import { creditCard } from "./credit-card.js";
import { dateOfBirth } from "./date-of-birth.js";
import { gazetteers } from "./gazetteer.js";
import { location } from "./location.js";
import { person, personLexicon } from "./person.js";
import { postalCode } from "./postal-code.js";
import { btcBech32, btcLegacy, ethAddress } from "./crypto-wallet.js";
import { email, obfuscatedEmail } from "./email.js";
import { iban } from "./iban.js";
import { ipv4, ipv6 } from "./ip-address.js";
import { phoneRecogniser } from "./phone.js";
import { secrets } from "./secret.js";
import { ssn } from "./ssn.js";
import { streetAddress } from "./street-address.js";
import { ukNhs } from "./uk-nhs.js";
import { usPassport } from "./us-passport.js";

/**
 * Recognisers by pattern name, in priority order: when two recognisers match the same span with the
 * same length, the one listed first names the finding (a checksummed NHS number beats the phone
 * shape it shares).
 */
export const builtinRecognisers: Readonly<Record<BuiltinPiiType, readonly Recogniser[]>> = {
  secret: secrets,
  crypto_wallet: [btcLegacy, btcBech32, ethAddress],
  credit_card: [creditCard],
  iban: [iban],
  ssn: [ssn],
  uk_nhs: [ukNhs],
  us_passport: [usPassport],
  email: [email],
  ip_address: [ipv4, ipv6],
  phone: [phoneRecogniser()],
  street_address: streetAddress,
  date_of_birth: [dateOfBirth],
  postal_code: postalCode,
  person: [person],
  location: [location],
};

/** Types whose recognisers read the gazetteers in data/pii: loaded when a rule using them is compiled. */
const usesGazetteers: ReadonlySet<BuiltinPiiType> = new Set(["person", "street_address", "postal_code", "location"]);

const priority = Object.keys(builtinRecognisers) as BuiltinPiiType[];

/** Options a rule sets for its built-in recognisers. */
export interface RecogniserOptions {
  /** Regions whose national phone formats are recognised (ISO 3166 codes); default US. */
  regions?: readonly string[];
  /** Also find spelled-out email addresses (`jane [at] example [dot] com`). */
  obfuscated?: boolean;
}

/** Recognisers for a set of built-in names, deduplicated and in priority order. */
export function recognisersFor(names: Iterable<BuiltinPiiType>, opts: RecogniserOptions = {}): Recogniser[] {
  const wanted = new Set(names);
  if ([...wanted].some((n) => usesGazetteers.has(n))) gazetteers();
  if (wanted.has("person")) personLexicon();
  return priority
    .filter((n) => wanted.has(n))
    .flatMap((n) => {
      if (n === "phone" && opts.regions !== undefined) return [phoneRecogniser(opts.regions)];
      if (n === "email" && opts.obfuscated === true) return [email, obfuscatedEmail];
      return builtinRecognisers[n];
    });
}
