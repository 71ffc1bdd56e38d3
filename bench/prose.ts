/**
 * Long realistic prose with sparse PII: what a RAG prompt of a few hundred KB looks like. Shared by
 * bench/scanner.ts (PII recognisers, content lexicon) and the bad-input cases.
 */
const paragraphs = [
  "The committee met on Tuesday to review the quarterly figures. Revenue grew modestly across most regions, although the northern division reported a decline that the regional manager attributed to delayed shipments and a weaker than expected holiday season. Several members asked whether the forecast for the coming year should be revised, and the finance team agreed to prepare two scenarios before the next meeting.",
  "To configure the service, copy the example settings file into the project directory and adjust the values for your environment. The database connection string, the port the server listens on, and the location of the log files are the three settings most people need to change. Restart the service after editing the file; it does not reload its configuration automatically.",
  "She walked along the river as the light faded, thinking about the letter she had left unfinished on the kitchen table. The town had changed since she was a child: the old mill was now a museum, the bakery had become a coffee shop, and the bridge she used to cross every morning had been replaced by a wider one with a cycle lane.",
  "Photosynthesis converts light energy into chemical energy stored in glucose. In the light-dependent reactions, water molecules are split, releasing oxygen and producing the energy carriers that drive the Calvin cycle. The rate of the process depends on light intensity, carbon dioxide concentration and temperature, each of which can become the limiting factor.",
  "Our support team is available on weekdays from nine to five. Before contacting us, please check the troubleshooting guide, which covers the most common installation problems, license questions and performance issues. When you open a ticket, include the version of the software, the operating system and a short description of what you expected to happen.",
  "The treaty, signed after months of negotiation, set out the terms for trade between the two countries and established a joint commission to settle disputes. Historians still debate whether its provisions were fair, since the smaller nation had little choice but to accept conditions that favoured its larger neighbour's merchants.",
  "In this chapter we introduce the basic ideas of probability: sample spaces, events, and the rules for combining them. We then define conditional probability and independence, and show how Bayes' theorem lets us update our beliefs when new evidence arrives. The exercises at the end of the chapter range from simple calculations to short proofs.",
  "The recipe calls for two cups of flour, one teaspoon of baking powder, a pinch of salt, three eggs and a cup of milk. Whisk the dry ingredients together first, then add the eggs and milk gradually, stirring until the batter is smooth. Let it rest for twenty minutes before cooking so that the flour can absorb the liquid.",
  "Release 4.2 of the library adds support for streaming responses, improves error messages when a request times out, and fixes a memory leak that affected long-running processes. The public interface is unchanged, so upgrading should not require any changes to your code, but the minimum supported runtime version is now 18.",
  "During the interview, the candidate described a project in which her team rebuilt the reporting pipeline from scratch. The old system took several hours to produce the daily summary; the new one finishes in under ten minutes and can be rerun for any day in the past year. She emphasised that most of the gain came from simplifying the data model rather than from faster hardware.",
];

const pii = [
  "Please contact Jane at jane.doe@example.com for the signed copy.",
  "The card on file ends the same as 4111 1111 1111 1111, please do not reuse it.",
  "Her reference number is 123-45-6789 according to the old form.",
  "Call the office on (415) 555-2671 if the delivery is late.",
  "Payments go to IBAN GB82 WEST 1234 5698 7654 32 as before.",
  "The server at 192.168.10.24 was rebooted twice last week.",
];

/** About `bytes` of prose with one PII sentence every `every` bytes. */
export function prose(bytes: number, every = 20_000): string {
  const out: string[] = [];
  let n = 0;
  let next = every;
  for (let i = 0; n < bytes; i++) {
    const p = paragraphs[(i * 7 + (i >> 3)) % paragraphs.length]!;
    out.push(p, "\n\n");
    n += p.length + 2;
    if (n >= next) {
      const s = pii[(next / every) % pii.length]!;
      out.push(s, "\n\n");
      n += s.length + 2;
      next += every;
    }
  }
  return out.join("").slice(0, bytes);
}
