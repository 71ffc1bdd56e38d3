import { queuedUnits } from "../../src/wire/index.js";

/** Synchronous work for `ms` of the clock: a unit heavier than a slice, whatever the machine's speed. */
export function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

/** A fresh turn: nothing queued, no inline work counted yet. */
export async function freshTurn(): Promise<void> {
  while (queuedUnits() > 0) await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
}

/** Counts turns of the event loop (a setImmediate chain) from now until `stop()`. */
export function turnCounter(): { readonly turns: number; stop(): void } {
  let turns = 0;
  let ticking = true;
  const tick = () => {
    turns++;
    if (ticking) setImmediate(tick);
  };
  setImmediate(tick);
  return {
    get turns() {
      return turns;
    },
    stop() {
      ticking = false;
    },
  };
}
