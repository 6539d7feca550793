// Starting a VM in its own Node worker thread (Node-only; loaded dynamically
// so host/lab stays bundleable for the browser). v86's wasm is compiled once
// here and the WebAssembly.Module posted to every VM thread.
//
// The thread's entry: compiled JS starts node-vm-thread.js beside this file;
// from TypeScript source (this file ends in .ts) bootstrap.mjs registers tsx
// in the worker first, since workers do not inherit the main thread's hooks.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { Worker, type ResourceLimits } from 'node:worker_threads';
import type { VmThreadOptions } from './protocol.ts';
import { VmThread, type ThreadHandle } from './vm-thread.ts';
import { pickFrameTransport, type FrameTransport } from './ring.ts';

/**
 * A VM thread's own JS heap: the guest's RAM is v86's wasm memory (outside
 * it), so a heap this size is far more than a VM needs, and a runaway device
 * or guest-driven allocation ends that VM (ERR_WORKER_OUT_OF_MEMORY), not the process.
 */
export const DEFAULT_RESOURCE_LIMITS: ResourceLimits = { maxOldGenerationSizeMb: 256, maxYoungGenerationSizeMb: 32 };

let wasm: Promise<WebAssembly.Module> | undefined;

/** v86's wasm, compiled once per process. */
export function v86WasmModule(): Promise<WebAssembly.Module> {
  wasm ??= readFile(createRequire(import.meta.url).resolve('v86/build/v86.wasm')).then((bytes) => WebAssembly.compile(bytes));
  return wasm;
}

function threadEntry(): { url: URL; workerData?: { entry: string } } {
  if (import.meta.url.endsWith('.js')) return { url: new URL('./node-vm-thread.js', import.meta.url) };
  return { url: new URL('./bootstrap.mjs', import.meta.url), workerData: { entry: new URL('./node-vm-thread.ts', import.meta.url).href } };
}

/** A node:worker_threads Worker as a ThreadHandle. Exposes the Worker for debugging (and tests that kill it). */
export function nodeThreadHandle(worker: Worker): ThreadHandle {
  let exited = false;
  let cause: string | undefined;
  return {
    post: (message, transfer = []) => worker.postMessage(message, transfer as never),
    onMessage: (listener) => worker.on('message', listener),
    onExit: (listener) => {
      // 'error' (an uncaught exception, out of memory) comes before 'exit'.
      worker.on('error', (error: Error & { code?: string }) => (cause ??= `${error.code ? `${error.code}: ` : ''}${error.message}`));
      worker.on('exit', (code) => {
        if (exited) return;
        exited = true;
        listener(cause ?? `exit code ${code}`);
      });
    },
    terminate: () => void worker.terminate(),
  };
}

export interface NodeVmThreadOptions extends VmThreadOptions {
  log?: (line: string) => void;
  /** The thread's heap limits (default DEFAULT_RESOURCE_LIMITS). */
  resourceLimits?: ResourceLimits;
  /**
   * How frames cross threads (ring.ts): 'transfer' (the default,
   * DEFAULT_FRAME_TRANSPORT) or 'ring' (SharedArrayBuffer); the environment's
   * VMSWITCH_FRAME_TRANSPORT sets it for a whole process (the benchmarks' switch).
   */
  frameTransport?: FrameTransport;
}

/** The frame transport a Node launch uses: the option, else VMSWITCH_FRAME_TRANSPORT, else DEFAULT_FRAME_TRANSPORT. */
export function nodeFrameTransport(option?: FrameTransport): FrameTransport {
  const env = process.env.VMSWITCH_FRAME_TRANSPORT;
  if (env !== undefined && env !== 'ring' && env !== 'transfer') throw new Error(`VMSWITCH_FRAME_TRANSPORT is 'ring' or 'transfer', not ${JSON.stringify(env)}`);
  return pickFrameTransport({ preferred: option ?? env });
}

/** A VM in its own worker thread; resolves once the guest is up. */
export async function startVmThread(options: NodeVmThreadOptions): Promise<VmThread & { worker: Worker }> {
  const { log, resourceLimits, frameTransport, ...vmOptions } = options;
  const transport = nodeFrameTransport(frameTransport);
  const module = await v86WasmModule();
  const entry = threadEntry();
  const worker = new Worker(entry.url, {
    name: `vm ${options.name}`,
    resourceLimits: resourceLimits ?? DEFAULT_RESOURCE_LIMITS,
    ...(entry.workerData ? { workerData: entry.workerData } : {}),
  });
  const vm = await VmThread.start(nodeThreadHandle(worker), vmOptions, { wasm: module, transport, ...(log ? { log } : {}) });
  return Object.assign(vm, { worker });
}
