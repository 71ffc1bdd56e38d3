/** SSE framing as OpenAI and vLLM send it: `data: <json>\n\n`, ended by `data: [DONE]\n\n`. */
export function sseData(json: string): string {
  return `data: ${json}\n\n`;
}

export const SSE_DONE = "data: [DONE]\n\n";
