/**
 * An upstream that streams as fast as its socket takes: every streamed chat completion is answered
 * with a role chunk, DELTAS (argv[3], default 200,000) chunks of one-character content deltas in
 * vLLM 0.8's compact wire form (docs: /work/shared/spec/openllm-wire.md), a finish chunk, the
 * usage chunk when `stream_options` asks for it (fewer when the prompt says "N deltas"), and `data: [DONE]`. The events are made once and
 * written in WRITE_KIB (64) KiB pieces, waiting for `drain` when the socket's buffer is full, so
 * the upstream spends next to no CPU of its own and the gateway's read side is never starved.
 *
 *   node bench/lib/tiny-delta-upstream.mjs PORT [DELTAS]
 *
 * Plain JavaScript with no imports of ours: it starts in a few ms, beside a gateway under test.
 */
import http from "node:http";

const port = Number(process.argv[2] ?? 0);
const deltas = Number(process.argv[3] ?? 200_000);
const WRITE = Number(process.env.WRITE_KIB ?? 64) * 1024;
const MODEL = "meta-llama/Llama-3.1-8B-Instruct";
const base = `{"id":"chatcmpl-tiny","object":"chat.completion.chunk","created":1744360000,"model":"${MODEL}","choices":`;
const event = (choices, tail = "") => `data: ${base}${choices}${tail}}\n\n`;

const first = event(`[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]`);
const one = event(`[{"index":0,"delta":{"content":"a"},"logprobs":null,"finish_reason":null}]`);
const last = event(`[{"index":0,"delta":{"content":""},"logprobs":null,"finish_reason":"stop","stop_reason":null}]`);
const usage = (n) => event("[]", `,"usage":{"prompt_tokens":12,"total_tokens":${12 + n},"completion_tokens":${n}}`);

// The deltas as WRITE-sized buffers of whole events (a piece may end mid-event: the wire does too).
const perPiece = Math.max(1, Math.floor(WRITE / one.length));
const fullPiece = Buffer.from(one.repeat(perPiece));

function stream(res, withUsage, count) {
  res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8" });
  res.write(first);
  let left = count;
  const more = () => {
    while (left > 0) {
      const n = Math.min(perPiece, left);
      left -= n;
      const ok = res.write(n === perPiece ? fullPiece : one.repeat(n));
      if (!ok) return void res.once("drain", more);
    }
    res.end(last + (withUsage ? usage(count) : "") + "data: [DONE]\n\n");
  };
  more();
}

const server = http.createServer((req, res) => {
  if (req.method === "GET" && (req.url === "/v1/models" || req.url === "/health")) {
    res.writeHead(200, { "content-type": "application/json" });
    return res.end(JSON.stringify({ object: "list", data: [{ id: MODEL, object: "model", created: 1, owned_by: "vllm", root: MODEL, parent: null, max_model_len: 1e9 }] }));
  }
  const parts = [];
  req.on("data", (d) => parts.push(d));
  req.on("end", () => {
    let body;
    try {
      body = JSON.parse(Buffer.concat(parts).toString("utf8"));
    } catch {
      res.writeHead(400, { "content-type": "application/json" });
      return res.end('{"object":"error","message":"bad json","type":"BadRequestError","param":null,"code":400}');
    }
    if (body.stream !== true) {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify({ id: "chatcmpl-tiny", object: "chat.completion", created: 1, model: MODEL, choices: [{ index: 0, message: { role: "assistant", content: "a" }, logprobs: null, finish_reason: "stop", stop_reason: null }], usage: { prompt_tokens: 12, total_tokens: 13, completion_tokens: 1 } }));
    }
    // A prompt that says "N deltas" asks for fewer (the bench's warm-up). Not max_tokens: the
    // gateway's limits set one of their own on every call.
    const asked = /(\d+) deltas/.exec(JSON.stringify(body.messages ?? ""));
    const count = asked ? Math.min(deltas, Number(asked[1])) : deltas;
    stream(res, body.stream_options !== undefined && body.stream_options !== null, count);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(port, "127.0.0.1", () => console.log(`tiny-delta-upstream listening on http://127.0.0.1:${server.address().port}`));
