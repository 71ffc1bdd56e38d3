/**
 * Provider strings name the runtime and the model a target serves:
 * `openllm`, `openllm:chat:<model>` or `openllm:completion:<model>`.
 * The model part may itself hold colons and slashes (`llama3:8b-instruct`,
 * `meta-llama/Llama-3.1-8B-Instruct`), so only the first two segments are split off.
 */
export type ProviderKind = "chat" | "completion" | "any";

export interface ProviderString {
  runtime: "openllm";
  kind: ProviderKind;
  /** Model named by the provider string; undefined for bare `openllm`. */
  model: string | undefined;
}

export function parseProviderString(value: string): ProviderString | undefined {
  if (value === "openllm") return { runtime: "openllm", kind: "any", model: undefined };
  const first = value.indexOf(":");
  if (first < 0 || value.slice(0, first) !== "openllm") return undefined;
  const second = value.indexOf(":", first + 1);
  if (second < 0) return undefined;
  const kind = value.slice(first + 1, second);
  const model = value.slice(second + 1);
  if ((kind !== "chat" && kind !== "completion") || model.length === 0) return undefined;
  return { runtime: "openllm", kind, model };
}
