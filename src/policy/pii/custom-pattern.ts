import type { Recogniser } from "../scan/index.js";

/**
 * How much text the incremental stream guard holds back for a custom pattern. A user regex has no
 * provable length bound; matches longer than this are still found by whole-text checks but may be
 * split by the incremental guard.
 */
export const CUSTOM_PATTERN_HOLD = 1024;

export function customRecogniser(name: string, regex: string): Recogniser {
  return { type: name, pattern: regex, flags: "u", standalone: true, maxLength: CUSTOM_PATTERN_HOLD, lookbehind: 64 };
}
