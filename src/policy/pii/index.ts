export { builtinPatternName, builtinPiiTypes, type BuiltinPiiType } from "../../config/index.js";
export { builtinRecognisers, recognisersFor, type RecogniserOptions } from "./builtin-recognisers.js";
export { DEFAULT_PHONE_REGIONS, phoneRecogniser } from "./phone.js";
export { isValidCardNumber } from "./credit-card.js";
export { CUSTOM_PATTERN_HOLD, customRecogniser } from "./custom-pattern.js";
export { ibanChecksumValid, ibanLengths, isValidIban } from "./iban.js";
export { luhnValid } from "./luhn.js";
export { isValidSsn } from "./ssn.js";
export { isValidNhsNumber } from "./uk-nhs.js";
