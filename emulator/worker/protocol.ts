// The VM-thread protocol: what the switch's thread (the Lab in Node, the page
// in the browser) and a VM's own thread say to each other. Host-neutral: the
// same messages go over node:worker_threads and Web Workers, and are shaped so
// a client in another process (a socket or WebSocket bridge) could speak them.
//
// Channels, each independent of the others:
// - frames: per NIC and direction, either a SharedArrayBuffer ring (ring.ts;
//   offered in 'start' when the launch asks for it and can share memory, accepted in
//   'started'; a 'ring-wake' message wakes a consumer that has no
//   Atomics.waitAsync) or, always available, 'frames' messages in batches with
//   one transferred buffer per frame (wire.ts): a page that is not
//   cross-origin isolated has no SharedArrayBuffer.
// - driver events per NIC (wire.ts), NIC counters: posted when they changed
//   (at most every COUNTER_INTERVAL_MS) and on request ('counters' with an id).
// - console: raw serial bytes out, 'input' in; any number of listeners on the
//   switch's side (the thread posts once, the mirror fans out).
// - exec: a request id per command; output may come in 'exec-output' chunks
//   before 'exec-done'. The shell-marker mechanism (exec.ts) stays inside the
//   VM thread: nothing here depends on it, and several requests (from several
//   clients) may be in flight; the thread runs them one after another.
// - save (snapshot bytes, transferred), stop, and 'failed' for anything that
//   ends the VM other than a stop or the guest's own poweroff.
//
// Everything from a VM thread is checked by `parseFromVm` before use: a
// hostile or buggy thread's message is refused with a reason and counted,
// never thrown on the switch's thread.
import type { NicCounters, NicModel } from '../net/nic.ts';
import { ALL_NIC_MODELS } from '../net/nic.ts';
import type { WireDriverEvent, WireFrame, WireRxOffloads } from './wire.ts';
import type { RingWake } from './ring.ts';

/** How often a VM thread looks whether its NIC counters changed. */
export const COUNTER_INTERVAL_MS = 1000;

/** What a VM thread is started with: VmOptions without functions, streams or switches. */
export interface VmThreadOptions {
  name: string;
  memoryMiB?: number;
  nics: { model: NicModel; mac?: string }[];
  hostname?: string;
  ip?: string[];
  gateway?: string;
  hosts?: Record<string, string>;
  template?: boolean;
  /** Snapshot bytes to restore (transferred). */
  snapshot?: Uint8Array;
  bootTimeoutMs?: number;
}

export interface WireNicInfo {
  model: NicModel;
  mac: string;
  driverReady: boolean;
  rxOffloads: WireRxOffloads;
}

/** Frame rings offered for every NIC (ring.ts): `toVm` the switch writes, `fromVm` the VM thread writes. */
export interface RingOffer {
  nics: { toVm: SharedArrayBuffer; fromVm: SharedArrayBuffer }[];
  /** How each side wakes the other's consumer (the switch's thread decides: both run the same engine). */
  wake: RingWake;
}

export type ToVm =
  /** `wasm`: v86's compiled module, compiled once by the switch's thread and shared. */
  | { type: 'start'; options: VmThreadOptions; wasm?: WebAssembly.Module; rings?: RingOffer }
  | { type: 'ring-wake'; nic: number }
  | { type: 'frames'; nic: number; frames: WireFrame[] }
  | { type: 'link'; nic: number; up: boolean }
  | { type: 'input'; data: Uint8Array }
  | { type: 'exec'; id: number; command: string; timeoutMs?: number }
  | { type: 'save'; id: number }
  | { type: 'counters'; id: number }
  | { type: 'stop' };

export interface WireError {
  name: string;
  message: string;
}

export type StartKind = 'cold' | 'snapshot' | 'template-created' | 'template';

export type FromVm =
  /** The VM is up: its NICs as they are now, before any frame or driver event of theirs. */
  /** `rings`: the VM took the offered frame rings (else its frames come as 'frames' messages). */
  | { type: 'started'; threadId: number; nics: WireNicInfo[]; memoryMiB: number; start: { kind: StartKind; ms: number; templatePath?: string }; rings?: boolean }
  | { type: 'ring-wake'; nic: number }
  | { type: 'frames'; nic: number; frames: WireFrame[] }
  | { type: 'driver'; nic: number; event: WireDriverEvent }
  /** Every NIC's counters; `id` answers a 'counters' request. */
  | { type: 'counters'; counters: NicCounters[]; id?: number }
  | { type: 'console'; data: Uint8Array }
  | { type: 'exec-output'; id: number; text: string }
  | { type: 'exec-done'; id: number; exitCode: number; output: string }
  | { type: 'exec-failed'; id: number; error: WireError; partialOutput?: string }
  | { type: 'saved'; id: number; bytes: Uint8Array }
  | { type: 'save-failed'; id: number; error: WireError }
  | { type: 'log'; line: string }
  /** The VM ended: stopped on request, or the guest powered off / halted / rebooted. */
  | { type: 'ended'; reason: 'stopped' | 'poweroff' | 'reboot'; error?: string }
  /** The VM could not start or broke: the thread is about to end. */
  | { type: 'failed'; error: WireError };

export function wireError(error: unknown): WireError {
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { name: 'Error', message: String(error) };
}

/** Reasons a message from a VM thread is refused (counted per reason by the receiver). */
export type RefusedReason = 'not-an-object' | 'unknown-type' | 'bad-field' | 'bad-nic' | 'unknown-request';

export class RefusedMessage {
  constructor(readonly reason: RefusedReason, readonly detail: string) {}
}

const MAX_NICS = 8;
const GSO_TYPES: readonly string[] = ['tcp4', 'tcp6', 'udp4'];
const MAX_FRAMES_PER_BATCH = 4096;
const MAX_FRAME_BYTES = 65_550;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
const isText = (value: unknown, max = 1 << 24): value is string => typeof value === 'string' && value.length <= max;

function nicIndex(value: unknown, nics: number): number | RefusedMessage {
  if (!isCount(value)) return new RefusedMessage('bad-field', 'nic is not an index');
  if (value >= nics) return new RefusedMessage('bad-nic', `no NIC ${value} (the VM has ${nics})`);
  return value;
}

function checkOffloads(value: unknown): boolean {
  return isObject(value) && typeof value.csum === 'boolean' && Array.isArray(value.gso) && value.gso.every((g) => GSO_TYPES.includes(g as string)) && isCount(value.maxFrameSize);
}

function checkFrames(value: unknown): boolean {
  if (!Array.isArray(value) || value.length > MAX_FRAMES_PER_BATCH) return false;
  for (const frame of value) {
    if (!isObject(frame) || !(frame.data instanceof Uint8Array) || frame.data.byteLength === 0 || frame.data.byteLength > MAX_FRAME_BYTES) return false;
    if (frame.csum !== undefined && !(isObject(frame.csum) && isCount(frame.csum.start) && isCount(frame.csum.offset))) return false;
    if (frame.gso !== undefined && !(isObject(frame.gso) && GSO_TYPES.includes(frame.gso.type as string) && isCount(frame.gso.segmentSize) && isCount(frame.gso.headerLength))) return false;
  }
  return true;
}

function checkDriverEvent(value: unknown): boolean {
  if (!isObject(value)) return false;
  switch (value.type) {
    case 'ready':
      return true;
    case 'stopped':
      return isText(value.reason, 1000);
    case 'features':
      return checkOffloads(value.rxOffloads);
    case 'mac':
      return isText(value.mac, 17) && /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(value.mac);
    case 'mtu':
      return isCount(value.mtu) && value.mtu <= 65_535;
    case 'failed':
      return isText(value.message, 10_000);
    default:
      return false;
  }
}

function checkCounters(value: unknown): boolean {
  return (
    isObject(value) &&
    isCount(value.txFrames) &&
    isCount(value.txBytes) &&
    isCount(value.rxFrames) &&
    isCount(value.rxBytes) &&
    isObject(value.rxDropped) &&
    isObject(value.guestErrors) &&
    Object.values(value.rxDropped).every(isCount) &&
    Object.values(value.guestErrors).every(isCount)
  );
}

const checkError = (value: unknown): boolean => isObject(value) && isText(value.name, 200) && isText(value.message, 100_000);

/**
 * A message from a VM thread, checked against the protocol and what the
 * receiver knows (`nics`: how many NICs the VM announced, -1 before 'started').
 * Returns the message, or why it is refused.
 */
export function parseFromVm(data: unknown, nics: number): FromVm | RefusedMessage {
  if (!isObject(data)) return new RefusedMessage('not-an-object', `a ${data === null ? 'null' : typeof data}`);
  const bad = (what: string) => new RefusedMessage('bad-field', `'${String(data.type)}': ${what}`);
  switch (data.type) {
    case 'started': {
      if (nics >= 0) return bad('the VM had started already');
      if (!isCount(data.threadId) || !isCount(data.memoryMiB)) return bad('threadId/memoryMiB');
      if (!Array.isArray(data.nics) || data.nics.length > MAX_NICS) return bad('nics');
      for (const nic of data.nics) {
        if (!isObject(nic) || !ALL_NIC_MODELS.includes(nic.model as NicModel) || !isText(nic.mac, 17) || !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(nic.mac)) return bad('a NIC');
        if (typeof nic.driverReady !== 'boolean' || !checkOffloads(nic.rxOffloads)) return bad('a NIC');
      }
      if (!isObject(data.start) || !['cold', 'snapshot', 'template-created', 'template'].includes(data.start.kind as string) || typeof data.start.ms !== 'number') return bad('start');
      if (data.rings !== undefined && typeof data.rings !== 'boolean') return bad('rings');
      return data as FromVm;
    }
    case 'frames': {
      const nic = nicIndex(data.nic, nics);
      if (nic instanceof RefusedMessage) return nic;
      return checkFrames(data.frames) ? (data as FromVm) : bad('frames');
    }
    case 'ring-wake': {
      const nic = nicIndex(data.nic, nics);
      return nic instanceof RefusedMessage ? nic : (data as FromVm);
    }
    case 'driver': {
      const nic = nicIndex(data.nic, nics);
      if (nic instanceof RefusedMessage) return nic;
      return checkDriverEvent(data.event) ? (data as FromVm) : bad('event');
    }
    case 'counters':
      if (!Array.isArray(data.counters) || data.counters.length !== Math.max(nics, 0) || !data.counters.every(checkCounters)) return bad('counters');
      if (data.id !== undefined && !isCount(data.id)) return bad('id');
      return data as FromVm;
    case 'console':
      return data.data instanceof Uint8Array && data.data.byteLength <= 1 << 20 ? (data as FromVm) : bad('data');
    case 'exec-output':
      return isCount(data.id) && isText(data.text) ? (data as FromVm) : bad('id/text');
    case 'exec-done':
      return isCount(data.id) && isText(data.output) && Number.isInteger(data.exitCode) ? (data as FromVm) : bad('id/output/exitCode');
    case 'exec-failed':
      return isCount(data.id) && checkError(data.error) && (data.partialOutput === undefined || isText(data.partialOutput)) ? (data as FromVm) : bad('id/error');
    case 'saved':
      return isCount(data.id) && data.bytes instanceof Uint8Array ? (data as FromVm) : bad('id/bytes');
    case 'save-failed':
      return isCount(data.id) && checkError(data.error) ? (data as FromVm) : bad('id/error');
    case 'log':
      return isText(data.line, 100_000) ? (data as FromVm) : bad('line');
    case 'ended':
      return ['stopped', 'poweroff', 'reboot'].includes(data.reason as string) && (data.error === undefined || isText(data.error, 100_000)) ? (data as FromVm) : bad('reason');
    case 'failed':
      return checkError(data.error) ? (data as FromVm) : bad('error');
    default:
      return new RefusedMessage('unknown-type', `type ${JSON.stringify(String(data.type)).slice(0, 40)}`);
  }
}
