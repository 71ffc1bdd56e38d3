import { Direction, type EvaluatePolicyResponse, type Finding } from "../../../clients/typescript/src/web.js";
import { button, field, h, replace, select } from "../dom.js";
import type { Page, PageContext } from "../page.js";
import { Code, ConnectError, describeError, isAuthError } from "../session.js";

/**
 * A dry run of the policy chain over a text (EvaluatePolicy): findings marked in place, the text
 * as it would be forwarded, and the decision. Then, optionally, the same text sent through a
 * chosen model (ChatService, streamed) to see the governed answer — a real request, audited like
 * any other, which needs the key's chat scope too.
 */
export function playgroundPage(ctx: PageContext): Page {
  const text = h("textarea", { attrs: { rows: 6, name: "text", spellcheck: "false" } });
  text.value = "Please email the invoice to jane.doe@example.com and call me on +1 415 555 0100.";
  const direction = select([
    [String(Direction.REQUEST), "Request (client → model)"],
    [String(Direction.RESPONSE), "Response (model → client)"],
  ]);
  const policy = select([["", "Whole chain"], ...ctx.overview.policies.map((p) => [p.id, p.id] as [string, string])]);
  const result = h("section", { class: "play-result", attrs: { "aria-live": "polite", "aria-label": "Evaluation" } });
  const model = select([["", "Loading models…"]]);
  const answer = h("output", { class: "answer", attrs: { "aria-live": "polite", for: "" } });
  const answerStatus = h("p", { class: "status", attrs: { role: "status" } });
  let abort: AbortController | undefined;
  let stopped = false;

  ctx.client.chat.listModels({}).then(
    (r) => {
      replace(model, ...r.models.map((m) => h("option", { attrs: { value: m.id }, text: `${m.id} (${m.targetIds.join(", ")})` })));
    },
    (err) => replace(model, h("option", { attrs: { value: "" }, text: `Models unavailable: ${describeError(err)}` })),
  );

  const evaluate = async () => {
    replace(result, h("p", { text: "Evaluating…" }));
    try {
      const r = await ctx.client.governance.evaluatePolicy({
        text: text.value,
        direction: Number(direction.value) as Direction,
        policyId: policy.value || undefined,
      });
      if (stopped) return;
      showResult(text.value, r);
    } catch (err) {
      if (isAuthError(err)) return ctx.signOut(describeError(err));
      replace(result, h("p", { class: "bad-box", text: describeError(err) }));
    }
  };

  const showResult = (source: string, r: EvaluatePolicyResponse) => {
    const located = r.findings.filter((f) => f.start !== undefined && f.end !== undefined);
    const whole = r.findings.filter((f) => f.start === undefined);
    replace(
      result,
      h("p", {}, "Decision: ", h("span", { class: `badge d-${r.decision}`, attrs: { "data-testid": "decision" }, text: r.decision })),
      h("h2", { text: "Findings in place" }),
      h("p", { class: "marked", attrs: { "data-testid": "marked" } }, ...highlight(source, located)),
      r.findings.length === 0
        ? h("p", { text: "Nothing found." })
        : h(
            "ul",
            { class: "findings" },
            ...r.findings.map((f) =>
              h("li", {}, h("code", { text: `${f.policy}/${f.rule}` }), ` ${f.type} → ${f.action}`, f.start === undefined ? " (whole text)" : ` at ${f.start}–${f.end}`),
            ),
          ),
      whole.length ? h("p", { class: "meta", text: `Content categories: ${whole.map((f) => f.type).join(", ")}` }) : null,
      h("h2", { text: "As forwarded" }),
      r.decision === "block" ? h("p", { class: "bad-box", text: "Blocked: nothing would be forwarded." }) : h("pre", { class: "redacted", attrs: { "data-testid": "redacted" }, text: r.redactedText }),
    );
  };

  const send = async () => {
    abort?.abort();
    const mine = new AbortController();
    abort = mine;
    answer.textContent = "";
    answerStatus.textContent = `Sending to ${model.value}…`;
    try {
      const stream = ctx.client.chat.streamChatCompletion(
        { model: model.value, messages: [{ role: "user", content: text.value }], includeUsage: true },
        { signal: mine.signal },
      );
      let usage = "";
      for await (const chunk of stream) {
        answer.textContent += chunk.choices[0]?.delta?.content ?? "";
        if (chunk.usage) usage = ` · ${chunk.usage.promptTokens} prompt + ${chunk.usage.completionTokens} completion tokens`;
      }
      answerStatus.textContent = `Done${usage}.`;
    } catch (err) {
      if (mine.signal.aborted) return;
      const e = ConnectError.from(err);
      // A block is PermissionDenied too: say what happened rather than signing out.
      answerStatus.textContent = e.code === Code.PermissionDenied ? `Refused: ${e.rawMessage}` : describeError(err);
    }
  };

  const form = h(
    "form",
    {
      class: "playground",
      attrs: { "aria-label": "Policy playground" },
      on: {
        submit: (e) => {
          e.preventDefault();
          void evaluate();
        },
      },
    },
    field("Text", text, "Type or paste any text. Nothing is sent to a model until you press Send."),
    h("div", { class: "row" }, field("Phase", direction), field("Policy", policy)),
    h("div", { class: "buttons" }, button("Evaluate", () => {}, { type: "submit", kind: "primary" })),
  );
  const sendBox = h(
    "section",
    { class: "send", attrs: { "aria-labelledby": "send-title" } },
    h("h2", { id: "send-title", text: "Send through a model" }),
    h("div", { class: "row" }, field("Model", model), h("div", { class: "buttons" }, button("Send", () => void send()))),
    answerStatus,
    answer,
  );
  return {
    el: h("div", {}, form, result, sendBox),
    dispose() {
      stopped = true;
      abort?.abort();
    },
  };
}

/** The text with each located finding wrapped in <mark>, overlaps merged, described for screen readers. */
function highlight(text: string, findings: Finding[]): (Node | string)[] {
  const spans = findings.map((f) => ({ start: f.start!, end: f.end!, label: `${f.type} (${f.policy}/${f.rule}, ${f.action})` })).sort((a, b) => a.start - b.start);
  const out: (Node | string)[] = [];
  let at = 0;
  for (let i = 0; i < spans.length; i++) {
    let { start, end, label } = spans[i]!;
    if (start < at) start = at;
    while (i + 1 < spans.length && spans[i + 1]!.start < end) {
      end = Math.max(end, spans[i + 1]!.end);
      label += `; ${spans[++i]!.label}`;
    }
    if (end <= start) continue;
    out.push(text.slice(at, start));
    out.push(h("mark", { attrs: { title: label, "aria-label": `${label}: ${text.slice(start, end)}` }, text: text.slice(start, end) }));
    at = end;
  }
  out.push(text.slice(at));
  return out;
}
