/**
 * TLS rotation without a restart, on the real CLI: the certificate and key files are replaced,
 * SIGHUP, and the next connection is served the new certificate while a session opened before
 * keeps working. `kt targets --ca FILE` trusts exactly that CA; `--insecure` skips the check.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { afterAll, describe, expect, it } from "vitest";
import { startFakeOpenLLM, type FakeOpenLLM } from "../fixtures/fake-openllm.js";
import { freePort, KT_BIN, runKt } from "../helpers/child-gateway.js";
import { MODEL } from "../helpers/harness.js";

const dir = mkdtempSync(join(tmpdir(), "kt-tls-reload-"));

/** A self-signed certificate for localhost and 127.0.0.1, made with the system's openssl. */
function makeCert(name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
    "-subj", `/CN=localhost/O=${name}`, "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
    "-keyout", key, "-out", cert,
  ], { stdio: "ignore" });
  return { cert, key };
}

/** The fingerprint of the certificate a fresh TLS connection is served. */
function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: "127.0.0.1", port, servername: "localhost", rejectUnauthorized: false, ALPNProtocols: ["h2", "http/1.1"] }, () => {
      const fp = s.getPeerX509Certificate()!.fingerprint256;
      s.end();
      resolve(fp);
    });
    s.on("error", reject);
  });
}

let fake: FakeOpenLLM | undefined;
let proc: ChildProcess | undefined;
afterAll(async () => {
  proc?.kill("SIGKILL");
  await fake?.close();
});

describe("TLS reload on SIGHUP", () => {
  it("serves the renewed certificate to the next connection; kt targets honours --ca and --insecure", async () => {
    const a = makeCert("first");
    const b = makeCert("second");
    const live = { cert: join(dir, "live.crt"), key: join(dir, "live.key") };
    copyFileSync(a.cert, live.cert);
    copyFileSync(a.key, live.key);
    fake = await startFakeOpenLLM();
    const config = join(dir, "policy-config.yaml");
    writeFileSync(config, `providers:\n  targets:\n    - { id: t, provider: "openllm:chat:llama3:8b-instruct", model: ${MODEL}, base_url: "${fake.url}" }\n`);
    const port = await freePort();
    let err = "";
    proc = spawn(process.execPath, [KT_BIN, "gateway", "run", "--listen", `127.0.0.1:${port}`, "--policy-config", config, "--tls-cert", live.cert, "--tls-key", live.key, "--drain-delay-seconds", "0"], {
      env: { ...process.env, KT_FROM_SOURCE: "1", KT_LOG_LEVEL: "info" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    proc.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    const deadline = Date.now() + 30_000;
    while (!err.includes("listening on https://")) {
      if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`gateway did not start: ${err}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const fpA = new X509Certificate(readFileSync(a.cert)).fingerprint256;
    const fpB = new X509Certificate(readFileSync(b.cert)).fingerprint256;
    expect(await servedFingerprint(port)).toBe(fpA);

    const url = `https://localhost:${port}`;
    // An HTTP/2 session opened before the swap.
    const session = http2.connect(url, { ca: readFileSync(a.cert) });
    session.on("error", () => {});
    const get = (path: string) =>
      new Promise<number>((resolve, reject) => {
        const s = session.request({ ":path": path });
        s.on("response", (h) => s.resume().on("end", () => resolve(Number(h[":status"]))));
        s.on("error", reject);
        s.end();
      });
    expect(await get("/healthz")).toBe(200);

    const before = await runKt(["targets", "--url", url, "--ca", a.cert, "--json"]);
    expect(before.code, before.stderr).toBe(0);
    expect(JSON.parse(before.stdout)[0].id).toBe("t");

    // Rotate: new files in place, then SIGHUP.
    copyFileSync(b.cert, live.cert);
    copyFileSync(b.key, live.key);
    proc.kill("SIGHUP");
    const until = Date.now() + 20_000;
    while (!err.includes("reloaded the TLS certificate")) {
      if (Date.now() > until) throw new Error(`no TLS reload: ${err}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await servedFingerprint(port)).toBe(fpB);
    // The session from before keeps working on its old certificate.
    expect(await get("/healthz")).toBe(200);
    session.close();

    const [oldCa, newCa, insecure] = await Promise.all([
      runKt(["targets", "--url", url, "--ca", a.cert]),
      runKt(["targets", "--url", url, "--ca", b.cert]),
      runKt(["targets", "--url", url, "--insecure"]),
    ]);
    expect(oldCa.code).not.toBe(0);
    expect(oldCa.stderr).toMatch(/certificate|self.signed|verify/i);
    expect(newCa.code, newCa.stderr).toBe(0);
    expect(newCa.stdout).toMatch(/^TARGET/);
    expect(insecure.code, insecure.stderr).toBe(0);
  }, 120_000);
});
