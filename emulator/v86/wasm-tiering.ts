// V8's wasm compiler tiers for v86 in Node (issue 13). v86 turns guest code
// into many small wasm modules as it runs; by default V8 compiles each with
// Liftoff and then again with TurboFan on background threads. Measured on one
// cold boot to a shell plus 10 s idle (same run, loaded 2-core machine):
// default 22.3 CPU-s and 9.7% idle, --no-liftoff 20.3 CPU-s and 6.9%,
// --liftoff-only 11.1 CPU-s and 3.5% (V8's compiler threads then idle too).
// The issue's own runs: the same boot wall time and the same virtio TCP
// throughput either way. So v86 runs Liftoff-only unless
// VMSWITCH_WASM_TIERUP=1 (or node was started with a wasm tiering flag of
// its own, which this leaves alone).
//
// node:v8 is reached through process.getBuiltinModule (Node >= 20.16), not a
// static import, because the page's bundle includes the adapter: in the
// browser (and on older Node) this is a no-op.

const TIERING_FLAGS = /^--(no-)?(liftoff|liftoff-only|wasm-tier-up|wasm-dynamic-tiering)$/;
let applied = false;

/** Before v86's wasm is compiled (V8 reads these flags per compilation); process-wide, workers included. */
export function applyWasmTiering(): void {
  if (applied) return;
  applied = true;
  const host = (globalThis as { process?: NodeJS.Process }).process;
  if (typeof host?.getBuiltinModule !== 'function') return;
  if (host.env.VMSWITCH_WASM_TIERUP === '1') return;
  if (host.execArgv.some((arg) => TIERING_FLAGS.test(arg))) return;
  (host.getBuiltinModule('node:v8') as typeof import('node:v8')).setFlagsFromString('--liftoff-only');
}
