// The VM's side of the VM-thread protocol (protocol.ts), host-neutral: it
// runs inside a Node worker (node-vm-thread.ts) or a Web Worker, over an
// Endpoint the host provides, and serves whatever VM the host's `start`
// makes (in Node the runtime's VirtualMachine, in its own thread).
import type { GuestNic } from '../net/nic.ts';
import type { Frame } from '../net/frame.ts';
import { formatMac } from '../net/frame.ts';
import { COUNTER_INTERVAL_MS, wireError, type FromVm, type RingOffer, type StartKind, type ToVm, type VmThreadOptions } from './protocol.ts';
import { fromWire, toWire, wireDriverEvent, wireOffloads } from './wire.ts';
import { RingReader, RingWriter } from './ring.ts';

/** A thread's message port, as both hosts have one (parentPort in Node, `self` in a Web Worker). */
export interface Endpoint {
  readonly threadId: number;
  post(message: FromVm, transfer?: Transferable[]): void;
  onMessage(listener: (data: unknown) => void): void;
  /** Lets the thread end once its work is done. */
  close(): void;
}

/** What the protocol needs of a running VM. */
export interface ServedVm {
  readonly nics: readonly GuestNic[];
  readonly memoryMiB: number;
  readonly startInfo: { kind: StartKind; ms: number; templatePath?: string };
  readonly console: { onData(listener: (bytes: Uint8Array) => void): () => void; write(input: string | Uint8Array): void };
  readonly ended: Promise<{ reason: 'stopped' | 'poweroff' | 'reboot'; error?: Error }>;
  exec(command: string, opts?: { timeoutMs?: number }): Promise<{ output: string; exitCode: number }>;
  saveSnapshot(): Promise<Uint8Array>;
  stop(): Promise<void>;
}

export type StartServedVm = (options: VmThreadOptions, wasm: WebAssembly.Module | undefined, log: (line: string) => void) => Promise<ServedVm>;

/** Per NIC, the guest's transmits of one task go out as one message, or into the NIC's ring with one publish. */
function transmitSink(endpoint: Endpoint, nic: number, ring?: { writer: RingWriter; wake: RingOffer['wake'] }) {
  let pending: Frame[] = [];
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    const batch = pending;
    pending = [];
    if (ring) {
      for (const frame of batch) ring.writer.write(frame);
      if (ring.writer.publish(ring.wake)) endpoint.post({ type: 'ring-wake', nic });
      return;
    }
    const transfer: ArrayBuffer[] = [];
    endpoint.post({ type: 'frames', nic, frames: batch.map((frame) => toWire(frame, transfer)) }, transfer);
  };
  return {
    deliver(frames: readonly Frame[]): void {
      for (const frame of frames) pending.push(frame);
      if (scheduled) return;
      scheduled = true;
      queueMicrotask(flush);
    },
  };
}

/** Serves one VM over `endpoint`: waits for 'start', then runs the protocol until the VM ends. */
export function serveVm(endpoint: Endpoint, start: StartServedVm): void {
  let vm: ServedVm | undefined;
  let starting = false;
  let stopRequested = false;
  let lastCounters = '';
  let counterTimer: ReturnType<typeof setInterval> | undefined;
  let ringOffer: RingOffer | undefined;
  const ringReaders: RingReader[] = [];
  const log = (line: string) => endpoint.post({ type: 'log', line });

  const postCounters = (id?: number): void => {
    if (!vm) return;
    const counters = vm.nics.map((nic) => nic.counters);
    const key = JSON.stringify(counters);
    if (id === undefined && key === lastCounters) return;
    lastCounters = key;
    endpoint.post({ type: 'counters', counters: JSON.parse(key), ...(id !== undefined ? { id } : {}) });
  };

  const serve = (running: ServedVm): void => {
    vm = running;
    // The offered rings are taken when there is one pair per NIC; otherwise frames go as messages.
    const rings = ringOffer && ringOffer.nics.length === running.nics.length ? ringOffer : undefined;
    endpoint.post({
      type: 'started',
      threadId: endpoint.threadId,
      memoryMiB: running.memoryMiB,
      start: { ...running.startInfo },
      nics: running.nics.map((nic) => ({ model: nic.model, mac: formatMac(nic.mac), driverReady: nic.driverReady, rxOffloads: wireOffloads(nic.rxOffloads) })),
      ...(rings ? { rings: true } : {}),
    });
    running.nics.forEach((nic, index) => {
      if (rings) {
        const reader = new RingReader(rings.nics[index]!.toVm, (frames) => nic.receive(frames), rings.wake);
        ringReaders.push(reader);
        reader.start();
      }
      nic.setTransmitSink(transmitSink(endpoint, index, rings ? { writer: new RingWriter(rings.nics[index]!.fromVm), wake: rings.wake } : undefined));
      nic.onDriverEvent((event) => endpoint.post({ type: 'driver', nic: index, event: wireDriverEvent(event) }));
    });
    // Not a copy per byte: the adapter already coalesces the serial port's bytes per task.
    running.console.onData((bytes) => endpoint.post({ type: 'console', data: bytes }));
    counterTimer = setInterval(() => postCounters(), COUNTER_INTERVAL_MS);
    void running.ended.then((end) => {
      clearInterval(counterTimer);
      for (const reader of ringReaders) reader.close();
      postCounters();
      endpoint.post({ type: 'ended', reason: end.reason, ...(end.error ? { error: end.error.message } : {}) });
      endpoint.close();
    });
    if (stopRequested) void running.stop();
  };

  const handle = (message: ToVm): void => {
    switch (message.type) {
      case 'start':
        if (starting) return log(`a second 'start' was ignored`);
        starting = true;
        ringOffer = message.rings;
        start(message.options, message.wasm, log).then(serve, (error: unknown) => {
          endpoint.post({ type: 'failed', error: wireError(error) });
          endpoint.close();
        });
        return;
      case 'frames':
        vm?.nics[message.nic]?.receive(message.frames.map(fromWire));
        return;
      case 'ring-wake':
        ringReaders[message.nic]?.woken();
        return;
      case 'link':
        vm?.nics[message.nic]?.setLinkUp(message.up);
        return;
      case 'input':
        vm?.console.write(message.data);
        return;
      case 'exec': {
        const { id } = message;
        if (!vm) return endpoint.post({ type: 'exec-failed', id, error: { name: 'Error', message: 'the VM has not started' } });
        vm.exec(message.command, message.timeoutMs !== undefined ? { timeoutMs: message.timeoutMs } : {}).then(
          (result) => endpoint.post({ type: 'exec-done', id, exitCode: result.exitCode, output: result.output }),
          (error: unknown) => {
            const partial = (error as { partialOutput?: unknown }).partialOutput;
            endpoint.post({ type: 'exec-failed', id, error: wireError(error), ...(typeof partial === 'string' ? { partialOutput: partial } : {}) });
          },
        );
        return;
      }
      case 'save': {
        const { id } = message;
        if (!vm) return endpoint.post({ type: 'save-failed', id, error: { name: 'Error', message: 'the VM has not started' } });
        vm.saveSnapshot().then(
          (bytes) => endpoint.post({ type: 'saved', id, bytes }, [bytes.buffer as ArrayBuffer]),
          (error: unknown) => endpoint.post({ type: 'save-failed', id, error: wireError(error) }),
        );
        return;
      }
      case 'counters':
        if (vm) postCounters(message.id);
        else endpoint.post({ type: 'counters', counters: [], id: message.id });
        return;
      case 'stop':
        stopRequested = true;
        if (vm) void vm.stop().catch((error: unknown) => log(`stopping: ${(error as Error).message}`));
        else if (!starting) endpoint.close();
        return;
      default:
        log(`unknown message ${JSON.stringify(String((message as { type?: unknown }).type)).slice(0, 60)} ignored`);
    }
  };

  endpoint.onMessage((data) => {
    try {
      handle(data as ToVm);
    } catch (error) {
      // A malformed request from the switch's side is reported, not left to end the thread.
      log(`handling '${String((data as { type?: unknown } | null)?.type)}': ${(error as Error)?.message ?? String(error)}`);
    }
  });
}
