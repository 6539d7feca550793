// V8's wasm compiler tiers for v86 in Node (issue 13). v86 turns guest code
// into many small wasm modules as it runs; V8 compiles each with Liftoff and
// then again with TurboFan on background threads. For one cold boot that
// second tier cost 6 of 15.7 CPU-s for the same wall time, and it kept V8's
// threads at ~8% of a core in an idle VM (v86 keeps generating modules), while
// TCP through a virtio pair was the same without it. So v86 runs Liftoff-only
// unless VMSWITCH_WASM_TIERUP=1 (or node was started with a wasm tiering flag
// of its own, which this leaves alone).
import { setFlagsFromString } from 'node:v8';

const TIERING_FLAGS = /^--(no-)?(liftoff|liftoff-only|wasm-tier-up|wasm-dynamic-tiering)$/;
let applied = false;

/** Before v86's wasm is compiled (V8 reads these flags per compilation); process-wide, workers included. */
export function applyWasmTiering(): void {
  if (applied) return;
  applied = true;
  if (process.env.VMSWITCH_WASM_TIERUP === '1') return;
  if (process.execArgv.some((arg) => TIERING_FLAGS.test(arg))) return;
  setFlagsFromString('--liftoff-only');
}
