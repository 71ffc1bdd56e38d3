/**
 * Loop turns per request window, for a gateway under a bench (issue #13, the stream row):
 *
 *   TURNS_FILE=/tmp/turns.txt GW_NODE_ARGS="--import $PWD/bench/lib/turn-log.mjs" MIB=4 PART=2 \
 *     SHAPES=prose,names,pem ROUTES=stream npx tsx bench/hostile.ts
 *   node bench/lib/turn-log.mjs /tmp/turns.txt prose,names,pem
 *
 * Preloaded (main thread only, with TURNS_FILE set): a 1 ms timer notes every turn of the loop
 * longer than 8 ms with how long the main thread ran in it (`ran`, ms, from
 * /proc/thread-self/schedstat: CPU, not waiting for a core, which on a shared machine is most of
 * a long gap), and the start and finish of each /v1/chat request (diagnostics_channel), all on
 * CLOCK_MONOTONIC in µs (a .cpuprofile's clock, so a turn can be matched with its samples). The
 * lines are written at exit. Run as a script, it groups the requests into rows (requests that
 * overlap) and prints each row's longest turns by `ran`. schedstat's run time moves in scheduler
 * ticks (4 ms here), so `ran` is good to a few ms. A bench tool, not for production.
 */
import { openSync, readFileSync, readSync, writeFileSync } from "node:fs";
import { isMainThread } from "node:worker_threads";
import dc from "node:diagnostics_channel";
import { fileURLToPath } from "node:url";

if (process.argv[1] === fileURLToPath(import.meta.url)) summarise(process.argv[2], (process.argv[3] ?? "").split(","));
else if (isMainThread && process.env.TURNS_FILE) log(process.env.TURNS_FILE);

function log(file) {
  const out = [];
  const us = () => Number(process.hrtime.bigint() / 1000n);
  const chat = (request) => request.url.startsWith("/v1/chat");
  dc.subscribe("http.server.request.start", ({ request }) => void (chat(request) && out.push({ req: "start", at: us() })));
  dc.subscribe("http.server.response.finish", ({ request }) => void (chat(request) && out.push({ req: "end", at: us() })));
  const sched = openSync("/proc/thread-self/schedstat", "r");
  const buf = Buffer.alloc(128);
  const ran = () => Number(buf.toString("latin1", 0, readSync(sched, buf, 0, 128, 0)).split(" ")[0]) / 1e6;
  let last = us();
  let lastRan = ran();
  setInterval(() => {
    const now = us();
    const r = ran();
    if (now - last > 8000) out.push({ from: last, to: now, gap: +((now - last) / 1000).toFixed(1), ran: +(r - lastRan).toFixed(1) });
    last = now;
    lastRan = r;
  }, 1).unref();
  const dump = () => writeFileSync(file, out.map((o) => JSON.stringify(o)).join("\n") + "\n");
  process.on("exit", dump);
  process.on("SIGTERM", () => {
    dump();
    process.exit(0);
  });
}

function summarise(file, names) {
  const lines = readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l));
  const rows = [];
  let open = 0;
  for (const l of lines) {
    if (l.req === "start" && open++ === 0) rows.push({ from: l.at, to: Infinity });
    if (l.req === "end" && --open === 0) rows[rows.length - 1].to = l.at;
  }
  rows.forEach((row, i) => {
    const turns = lines.filter((l) => l.ran !== undefined && l.to >= row.from && l.from <= row.to).sort((a, b) => b.ran - a.ran);
    const top = turns.slice(0, 5).map((t) => `${t.ran} (+${Math.round((t.from - row.from) / 1000)} ms)`);
    console.log(`${(names[i] || `row ${i}`).padEnd(6)} ${((row.to - row.from) / 1e6).toFixed(1)} s  longest ran: ${top.join(", ")}  over 15 ms: ${turns.filter((t) => t.ran > 15).length}, over 20: ${turns.filter((t) => t.ran > 20).length}`);
  });
}
