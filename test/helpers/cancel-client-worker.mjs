// A client in a worker thread (its own event loop), for test/hostile/cancel-backlog.test.ts: it
// sends one request, and on "cancel" cancels it (an HTTP/2 RST_STREAM, or the HTTP/1.1 socket
// closed) and says so through shared memory once its stream or socket has closed, so the test can
// hold the gateway's thread while the cancel reaches the gateway's socket unread.
import http from "node:http";
import http2 from "node:http2";
import { parentPort, workerData } from "node:worker_threads";

const { url, path, headers, body, transport, flag } = workerData;
const done = new Int32Array(flag);
const closed = () => {
  // A turn later: whatever the close wrote has left this thread.
  setImmediate(() => {
    Atomics.store(done, 0, 1);
    Atomics.notify(done, 0);
  });
};

if (transport === "h2") {
  const session = http2.connect(url);
  session.on("error", () => {});
  const req = session.request({ ":method": "POST", ":path": path, ...headers });
  req.on("error", () => {});
  req.on("data", () => {});
  req.end(Buffer.from(body));
  parentPort.on("message", (m) => {
    if (m === "cancel") {
      req.once("close", closed);
      req.close(http2.constants.NGHTTP2_CANCEL);
    } else if (m === "end") session.destroy();
  });
} else {
  const req = http.request(url + path, { method: "POST", headers, agent: false });
  req.on("error", () => {});
  req.on("response", (res) => res.resume());
  req.end(Buffer.from(body));
  parentPort.on("message", (m) => {
    if (m === "cancel") {
      req.once("close", closed);
      req.destroy();
    }
  });
}
