// host/lab's LaunchGuest for a page: each VM in its own Web Worker (served by
// web/worker/vm-worker.ts), driven through a VmThread as a Node VM thread is
// (node-launch.ts). Host-neutral code only: no DOM, no node: imports; the page
// gives the Worker factory, the image URLs and where templates are.
import type { NicModel } from '../net/nic.ts';
import { formatMac } from '../net/frame.ts';
import type { LaunchGuest } from '../../host/lab/guest.ts';
import type { BrowserVmOptions, ImageUrls } from './browser-options.ts';
import { VmThread, type ThreadHandle } from './vm-thread.ts';

/** What the launch needs of a Web Worker (tests pass a fake). */
export interface WorkerLike {
  postMessage(message: unknown, transfer: Transferable[]): void;
  onmessage: ((event: MessageEvent) => void) | null;
  onerror: ((event: ErrorEvent) => void) | null;
  onmessageerror?: ((event: MessageEvent) => void) | null;
  terminate(): void;
}

export interface BrowserLaunchOptions {
  createWorker(name: string): WorkerLike;
  /** Absolute URLs of the guest image. */
  image: ImageUrls;
  /** The template snapshot's URL for a NIC model list, if the server has one (asked at each start: templates appear and change). */
  snapshotFor?(models: readonly NicModel[]): Promise<string | undefined>;
  memoryMiB?: number;
  /** v86's wasm compiled once by the page and shared by every VM's worker (else each compiles its own). */
  wasm?(): Promise<WebAssembly.Module | undefined>;
}

/** A Web Worker as a VmThread's ThreadHandle. A worker has no exit event: an uncaught error ends the VM. */
export function workerThreadHandle(worker: WorkerLike): ThreadHandle {
  let exited = false;
  let onExit: ((reason: string) => void) | undefined;
  const exit = (reason: string): void => {
    if (exited) return;
    exited = true;
    onExit?.(reason);
  };
  return {
    post: (message, transfer = []) => worker.postMessage(message, transfer),
    onMessage: (listener) => {
      worker.onmessage = (event) => listener(event.data);
    },
    onExit: (listener) => {
      onExit = listener;
      worker.onerror = (event) => {
        event.preventDefault?.();
        exit(event.message || 'the VM worker failed');
      };
      worker.onmessageerror = () => exit('a message from the VM worker could not be read');
    },
    terminate: () => {
      exited = true;
      worker.terminate();
    },
  };
}

/**
 * A locally administered MAC from the lab id, VM name and NIC index (FNV-1a;
 * the Node launch uses SHA-256 via node:crypto, which a page lacks, and Web
 * Crypto's digest is async and needs a secure origin). Unique enough per lab.
 */
export function browserMac(labId: string, name: string, index: number): string {
  const text = `${labId}/${name}/${index}`;
  const bytes = new Uint8Array(5);
  let hash = 0x811c9dc5;
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
    for (let b = 0; b < 4 && round * 4 + b < 5; b++) bytes[round * 4 + b] = (hash >>> (b * 8)) & 0xff;
    hash = Math.imul(hash ^ 0x5c, 0x01000193) >>> 0;
  }
  return formatMac(Uint8Array.of(0x02, ...bytes));
}

export function browserLaunch(options: BrowserLaunchOptions): LaunchGuest {
  return async (launch) => {
    const models = launch.nics.map((nic) => nic.model);
    const snapshotUrl = launch.template ? await options.snapshotFor?.(models) : undefined;
    const vmOptions: BrowserVmOptions = {
      name: launch.name,
      ...(options.memoryMiB ? { memoryMiB: options.memoryMiB } : {}),
      nics: launch.nics.map((nic, i) => ({ model: nic.model, mac: nic.mac ?? browserMac(launch.labId ?? '', launch.name, i) })),
      hostname: launch.hostname,
      ip: launch.ip,
      hosts: launch.hosts,
      template: snapshotUrl !== undefined,
      image: options.image,
      ...(snapshotUrl ? { snapshotUrl } : {}),
    };
    const wasm = await options.wasm?.();
    const worker = options.createWorker(launch.name);
    return VmThread.start(workerThreadHandle(worker), vmOptions, { ...(wasm ? { wasm } : {}), ...(launch.log ? { log: launch.log } : {}) });
  };
}
