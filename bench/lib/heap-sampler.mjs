// Preloaded into a gateway by bench/allocations.ts (node --import): SIGUSR2 starts V8's sampling
// heap profiler with the objects later collected by either GC kept in the profile (so it shows
// everything allocated, not what survived); the next SIGUSR2 stops it and writes the profile to
// KT_HEAP_SAMPLE_OUT, then prints "heap-sampler: written" on stderr.
import { Session } from "node:inspector";
import { writeFileSync } from "node:fs";

const session = new Session();
session.connect();
let sampling = false;
process.on("SIGUSR2", () => {
  if (!sampling) {
    sampling = true;
    const samplingInterval = Number(process.env.KT_HEAP_SAMPLE_INTERVAL ?? 1024);
    // KT_HEAP_SAMPLE_SURVIVORS=1 leaves out what the young generation's scavenges collected: what
    // remains is what was promoted to the old generation (or was still live at the end).
    const minor = process.env.KT_HEAP_SAMPLE_SURVIVORS !== "1";
    session.post("HeapProfiler.startSampling", { samplingInterval, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: minor }, (e) => {
      process.stderr.write(e ? `heap-sampler: ${e.message}\n` : "heap-sampler: started\n");
    });
    return;
  }
  sampling = false;
  session.post("HeapProfiler.stopSampling", (e, r) => {
    if (e) return process.stderr.write(`heap-sampler: ${e.message}\n`);
    writeFileSync(process.env.KT_HEAP_SAMPLE_OUT, JSON.stringify(r.profile));
    process.stderr.write("heap-sampler: written\n");
  });
});
