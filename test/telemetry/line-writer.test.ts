/**
 * The log's destination writes a turn's lines with one synchronous write; a descriptor that is
 * full (non-blocking, EAGAIN) moves the rest to the thread pool, and no line is lost, split or
 * reordered either way.
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LineWriter } from "../../src/telemetry/line-writer.js";

const dir = mkdtempSync(path.join(os.tmpdir(), "kt-line-writer-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const turn = () => new Promise<void>((r) => setImmediate(r));

function lines(n: number, width = 80): string[] {
  return Array.from({ length: n }, (_, i) => `{"n":${i},"pad":"${"é".repeat(i % 7)}${"x".repeat(width)}"}\n`);
}

/** A connected TCP pair on loopback: the writer gets the client's descriptor, the test reads `reader`. */
async function socketPair(): Promise<{ server: net.Server; client: net.Socket; reader: net.Socket }> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const accepted = new Promise<net.Socket>((r) => server.once("connection", r));
  const client = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1");
  await new Promise<void>((r) => client.once("connect", r));
  return { server, client, reader: await accepted };
}

describe("LineWriter", () => {
  it("writes a turn's lines after the turn, in order, with non-ASCII text intact", async () => {
    const file = path.join(dir, "a.log");
    const fd = openSync(file, "w");
    const w = new LineWriter(fd);
    const sent = lines(50);
    for (const l of sent) w.write(l);
    // Nothing is written during the turn itself.
    expect(readFileSync(file, "utf8")).toBe("");
    await turn();
    await turn();
    expect(readFileSync(file, "utf8")).toBe(sent.join(""));
    w.write("last\n");
    w.flushSync();
    expect(readFileSync(file, "utf8")).toBe(sent.join("") + "last\n");
    w.end();
    closeSync(fd);
  });

  it("gathers lines that follow a write within the interval, writes them once enough are pending, and at the end", async () => {
    const file = path.join(dir, "b.log");
    const fd = openSync(file, "w");
    // An interval no test run outlasts: what is held back is held by the interval, not by timing.
    const w = new LineWriter(fd, 32 * 1024 * 1024, 60_000, 1024);
    w.write("first\n");
    await turn();
    await turn();
    // The first line after a quiet spell goes out at its turn's end.
    expect(readFileSync(file, "utf8")).toBe("first\n");
    w.write("second\n");
    await turn();
    await turn();
    // Within the interval of the last write: gathered, not yet written.
    expect(readFileSync(file, "utf8")).toBe("first\n");
    const big = lines(20, 80);
    for (const l of big) w.write(l);
    await turn();
    await turn();
    // Past flushBytes pending: written at the turn's end, in order.
    expect(readFileSync(file, "utf8")).toBe("first\nsecond\n" + big.join(""));
    w.write("last\n");
    w.end();
    expect(readFileSync(file, "utf8")).toBe("first\nsecond\n" + big.join("") + "last\n");
    closeSync(fd);
  });

  it("goes through the thread pool when a non-blocking descriptor is full, and loses nothing", async () => {
    const { server, client, reader } = await socketPair();
    // Not read until the writer has filled the socket's buffers.
    reader.pause();
    const fd = (client as unknown as { _handle: { fd: number } })._handle.fd;
    expect(fd).toBeGreaterThan(2);
    const w = new LineWriter(fd);
    const sent: string[] = [];
    // Several MiB over several turns: far more than the socket buffers hold.
    for (let t = 0; t < 40; t++) {
      for (const l of lines(200, 1000)) {
        const line = `${t}:${l}`;
        sent.push(line);
        w.write(line);
      }
      await turn();
    }
    // The socket is full: the writer is waiting on the thread pool, not spinning on the loop.
    expect(w.backlogged).toBe(true);
    const expected = Buffer.byteLength(sent.join(""));
    const got: Buffer[] = [];
    let size = 0;
    const all = new Promise<void>((resolve) => {
      reader.on("data", (b: Buffer) => {
        got.push(b);
        size += b.length;
        if (size >= expected) resolve();
      });
    });
    reader.resume();
    await all;
    expect(Buffer.concat(got).toString("utf8")).toBe(sent.join(""));
    w.end();
    client.destroy();
    reader.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }, 60_000);

  it("drops and counts lines past its backlog bound while the reader is stalled, then says how many", async () => {
    const { server, client, reader } = await socketPair();
    reader.pause();
    const fd = (client as unknown as { _handle: { fd: number } })._handle.fd;
    const cap = 256 * 1024;
    const w = new LineWriter(fd, cap);
    let refused = 0;
    let accepted_ = 0;
    // Until the descriptor is full and lines are refused: a paused loopback reader's kernel buffers
    // autotune up to tcp_rmem's and tcp_wmem's maxima (36 MiB here), which 60 turns of 200 KB did
    // not always fill (1 run in 6). Bounded at 600 turns (~120 MB offered).
    for (let t = 0; t < 600 && !(w.backlogged && refused > 0); t++) {
      for (const l of lines(200, 1000)) {
        if (w.write(`${t}:${l}`)) accepted_++;
        else refused++;
      }
      await turn();
    }
    expect(w.backlogged).toBe(true);
    expect(refused).toBeGreaterThan(0);
    // What it holds stays under the bound (plus what was already handed to the thread pool).
    expect((w as unknown as { pending: string }).pending.length).toBeLessThanOrEqual(cap);
    // The kernel may take a little more while the reader is paused, so the count can be reported
    // in more than one notice: together they name every refused line, once.
    const notice = /"msg":"log lines dropped: the log reader fell behind","dropped":(\d+)\}$/;
    let partial = "";
    let noticed = 0;
    const all = new Promise<void>((resolve) => {
      reader.setEncoding("utf8");
      reader.on("data", (s: string) => {
        const lines = (partial + s).split("\n");
        partial = lines.pop()!;
        for (const line of lines) noticed += Number(notice.exec(line)?.[1] ?? 0);
        if (noticed >= refused) resolve();
      });
    });
    reader.resume();
    await all;
    expect(noticed).toBe(refused);
    expect(w.droppedLines).toBe(0);
    expect(accepted_).toBeGreaterThan(0);
    w.end();
    client.destroy();
    reader.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }, 60_000);
});
