// A VM running in its own thread, as the switch's thread sees it: the
// LabGuest shape (NICs, console, exec, stop, ended) kept in step with the
// thread by the VM-thread protocol (protocol.ts). Host-neutral: a Node worker
// (node-launch.ts) or a Web Worker is given as a ThreadHandle.
//
// The thread is a fault domain: if it dies (an exception, process.exit, out
// of memory, terminate) `ended` settles with reason 'failed' and the cause,
// pending requests fail, and whoever attached the NICs runs their stop
// lifecycle (the RemoteNic mirrors stay usable for that).
import type { NicCounters } from '../net/nic.ts';
import { RemoteNic } from './remote-nic.ts';
import { parseFromVm, RefusedMessage, type FromVm, type RefusedReason, type RingOffer, type StartKind, type ToVm, type VmThreadOptions, type WireError } from './protocol.ts';
import { createRing, ringWakeMode, RingReader, RingWriter, type FrameTransport } from './ring.ts';
import type { RingDropReason } from '../net/drop-reasons.ts';

/** What a VmThread needs of a worker, whichever host made it. */
export interface ThreadHandle {
  post(message: ToVm, transfer?: Transferable[]): void;
  onMessage(listener: (data: unknown) => void): void;
  /** Called once when the thread is gone, however it went; `reason` says why in words. */
  onExit(listener: (reason: string) => void): void;
  terminate(): void;
}

export type VmThreadEnd = { reason: 'stopped' | 'poweroff' | 'reboot' | 'failed'; detail?: string; error?: Error };

/** An error that crossed from the VM's thread, with its original name (e.g. ExecTimeoutError). */
export class VmThreadError extends Error {
  constructor(wire: WireError, readonly partialOutput?: string) {
    super(wire.message);
    this.name = wire.name;
  }
}

export class VmThreadStartError extends Error {
  override name = 'VmThreadStartError';
}

/** How long stop() lets the VM free itself before the thread is terminated. */
const STOP_GRACE_MS = 5000;
const RECENT_LIMIT = 16 * 1024;

/** The console as a stream of raw bytes with any number of listeners. */
class ThreadConsole {
  private readonly listeners = new Set<(bytes: Uint8Array) => void>();
  private recentText = '';
  private readonly latin1 = new TextDecoder('latin1');

  constructor(private readonly post: (message: ToVm) => void) {}

  onData(listener: (bytes: Uint8Array) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  write(input: string | Uint8Array): void {
    this.post({ type: 'input', data: typeof input === 'string' ? new TextEncoder().encode(input) : input.slice() });
  }

  recent(maxChars = 2000): string {
    return this.recentText.slice(-maxChars);
  }

  deliver(bytes: Uint8Array): void {
    this.recentText = (this.recentText + this.latin1.decode(bytes)).slice(-RECENT_LIMIT);
    for (const listener of [...this.listeners]) {
      try {
        listener(bytes);
      } catch (error) {
        console.error('vmswitch: a console listener threw:', error);
      }
    }
  }
}

interface Pending<T> {
  resolve(value: T): void;
  reject(error: Error): void;
}

export class VmThread {
  nics: RemoteNic[] = [];
  readonly console: ThreadConsole;
  /** The VM thread's id (node:worker_threads threadId; 0 where the host has none). */
  threadId = -1;
  memoryMiB = 0;
  startInfo: { kind: StartKind; ms: number; templatePath?: string } = { kind: 'cold', ms: 0 };
  /** Messages from the thread that broke the protocol, by reason: refused, never acted on. */
  readonly refused: Partial<Record<RefusedReason, number>> = {};
  /** The last refused message's problem, for error reports. */
  lastRefused: string | undefined;
  readonly ended: Promise<VmThreadEnd>;
  private resolveEnded!: (end: VmThreadEnd) => void;
  private end: VmThreadEnd | undefined;
  private nextId = 1;
  private readonly execs = new Map<number, Pending<{ output: string; exitCode: number }>>();
  private readonly execOutput = new Map<number, (text: string) => void>();
  private readonly saves = new Map<number, Pending<Uint8Array>>();
  private readonly counterRequests = new Map<number, Pending<void>>();
  private started: Pending<void> | undefined;
  private stopping: Promise<void> | undefined;
  private ringOffer: RingOffer | undefined;
  private readonly ringReaders: RingReader[] = [];
  private readonly ringWriters: RingWriter[] = [];
  /** How frames cross to and from the thread: 'ring' once the thread took the offered rings. */
  frameTransport: FrameTransport = 'transfer';

  private constructor(
    readonly name: string,
    private readonly handle: ThreadHandle,
    private readonly log?: (line: string) => void,
  ) {
    this.console = new ThreadConsole((message) => this.post(message));
    this.ended = new Promise((resolve) => (this.resolveEnded = resolve));
    handle.onMessage((data) => this.receive(data));
    handle.onExit((reason) => this.finish({ reason: 'failed', detail: `the VM's thread ended: ${reason}` }));
  }

  /** Starts the VM in the thread; resolves once it is up (booted or restored, personalised). */
  /**
   * Starts the VM in the thread; resolves once it is up (booted or restored, personalised).
   * `transport` 'ring' offers SharedArrayBuffer frame rings (pickFrameTransport
   * in ring.ts says whether this thread can); the thread may still answer with messages.
   */
  static async start(handle: ThreadHandle, options: VmThreadOptions, opts: { wasm?: WebAssembly.Module; log?: (line: string) => void; transport?: FrameTransport; ringBytes?: number } = {}): Promise<VmThread> {
    const vm = new VmThread(options.name, handle, opts.log);
    const up = new Promise<void>((resolve, reject) => (vm.started = { resolve, reject }));
    const transfer = options.snapshot ? [options.snapshot.buffer as ArrayBuffer] : [];
    if (opts.transport === 'ring') vm.ringOffer = { nics: options.nics.map(() => ({ toVm: createRing(opts.ringBytes), fromVm: createRing(opts.ringBytes) })), wake: ringWakeMode() };
    vm.post({ type: 'start', options, ...(opts.wasm ? { wasm: opts.wasm } : {}), ...(vm.ringOffer ? { rings: vm.ringOffer } : {}) }, transfer);
    try {
      await up;
    } catch (error) {
      handle.terminate();
      throw error;
    }
    return vm;
  }

  get isStopped(): boolean {
    return this.end !== undefined || this.stopping !== undefined;
  }

  private post(message: ToVm, transfer: Transferable[] = []): void {
    if (this.end) return;
    try {
      this.handle.post(message, transfer);
    } catch (error) {
      this.finish({ reason: 'failed', detail: `posting to the VM's thread: ${(error as Error).message}` });
    }
  }

  private refuse(refusal: RefusedMessage): void {
    this.refused[refusal.reason] = (this.refused[refusal.reason] ?? 0) + 1;
    this.lastRefused = refusal.detail;
  }

  /** Every message from the thread: checked, then acted on; nothing it sends can throw here. */
  private receive(data: unknown): void {
    if (this.end) return;
    const message = parseFromVm(data, this.threadId < 0 ? -1 : this.nics.length);
    if (message instanceof RefusedMessage) return this.refuse(message);
    try {
      this.act(message);
    } catch (error) {
      this.refuse(new RefusedMessage('bad-field', `'${message.type}': ${(error as Error)?.message ?? String(error)}`));
    }
  }

  private act(message: FromVm): void {
    switch (message.type) {
      case 'started': {
        this.threadId = message.threadId;
        this.memoryMiB = message.memoryMiB;
        this.startInfo = message.start;
        const rings = message.rings && this.ringOffer?.nics.length === message.nics.length ? this.ringOffer : undefined;
        this.frameTransport = rings ? 'ring' : 'transfer';
        this.nics = message.nics.map((info, index) => {
          const writer = rings ? new RingWriter(rings.nics[index]!.toVm) : undefined;
          if (writer) this.ringWriters.push(writer);
          return new RemoteNic(info.model, index, info, (m, t) => this.post(m as ToVm, t), writer && rings ? { writer, wake: rings.wake } : undefined);
        });
        if (rings) {
          this.nics.forEach((nic, index) => {
            const reader = new RingReader(rings.nics[index]!.fromVm, (frames) => nic.fromRing(frames), rings.wake);
            this.ringReaders.push(reader);
            reader.start();
          });
        }
        const started = this.started;
        this.started = undefined;
        started?.resolve();
        return;
      }
      case 'frames':
        this.nics[message.nic]!.fromWorker(message.frames);
        return;
      case 'ring-wake':
        this.ringReaders[message.nic]?.woken();
        return;
      case 'driver':
        this.nics[message.nic]!.driverEvent(message.event);
        return;
      case 'counters':
        message.counters.forEach((counters, i) => this.nics[i]!.updateCounters(counters as NicCounters));
        if (message.id !== undefined) this.settle(this.counterRequests, message.id, (p) => p.resolve());
        return;
      case 'console':
        this.console.deliver(message.data);
        return;
      case 'exec-output':
        this.execOutput.get(message.id)?.(message.text);
        return;
      case 'exec-done':
        this.execOutput.delete(message.id);
        this.settle(this.execs, message.id, (p) => p.resolve({ output: message.output, exitCode: message.exitCode }));
        return;
      case 'exec-failed':
        this.execOutput.delete(message.id);
        this.settle(this.execs, message.id, (p) => p.reject(new VmThreadError(message.error, message.partialOutput)));
        return;
      case 'saved':
        this.settle(this.saves, message.id, (p) => p.resolve(message.bytes));
        return;
      case 'save-failed':
        this.settle(this.saves, message.id, (p) => p.reject(new VmThreadError(message.error)));
        return;
      case 'log':
        this.log?.(message.line);
        return;
      case 'ended':
        this.finish({ reason: message.reason, ...(message.error ? { error: new Error(message.error) } : {}) });
        return;
      case 'failed':
        this.finish({ reason: 'failed', detail: `${message.error.name}: ${message.error.message}`, error: new VmThreadError(message.error) });
        return;
    }
  }

  private settle<T>(table: Map<number, Pending<T>>, id: number, act: (pending: Pending<T>) => void): void {
    const pending = table.get(id);
    if (!pending) return this.refuse(new RefusedMessage('unknown-request', `no request ${id}`));
    table.delete(id);
    act(pending);
  }

  private request<T>(table: Map<number, Pending<T>>, message: (id: number) => ToVm): Promise<T> {
    if (this.end || this.stopping) return Promise.reject(new Error(`${this.name} is stopped`));
    const id = this.nextId++;
    const answer = new Promise<T>((resolve, reject) => table.set(id, { resolve, reject }));
    this.post(message(id));
    return answer;
  }

  /**
   * Runs a shell command in the guest (requests are queued in the VM's thread).
   * `onOutput` gets output as the thread streams it.
   */
  exec(command: string, opts: { timeoutMs?: number; onOutput?: (text: string) => void } = {}): Promise<{ output: string; exitCode: number }> {
    const answer = this.request(this.execs, (id) => {
      if (opts.onOutput) this.execOutput.set(id, opts.onOutput);
      return { type: 'exec', id, command, ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}) };
    });
    return answer;
  }

  /** The VM's snapshot (v86 and NIC states), taken in its thread. */
  saveSnapshot(): Promise<Uint8Array> {
    return this.request(this.saves, (id) => ({ type: 'save', id }));
  }

  /** Frames the rings lost, by reason, both directions together (empty with transferables). */
  get ringDrops(): Partial<Record<RingDropReason, number>> {
    const total: Partial<Record<RingDropReason, number>> = {};
    for (const ring of [...this.ringReaders, ...this.ringWriters]) {
      for (const [reason, count] of Object.entries(ring.dropped) as [RingDropReason, number][]) total[reason] = (total[reason] ?? 0) + count;
    }
    return total;
  }

  /** Resolves once every NIC mirror has the thread's current counters (they are otherwise posted about once a second). */
  refreshCounters(): Promise<void> {
    return this.request(this.counterRequests, (id) => ({ type: 'counters', id }));
  }

  /** Stops the VM (its thread frees the emulator, then ends; terminated if it does not within a few seconds). */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (this.end) return;
      this.post({ type: 'stop' });
      let timer: ReturnType<typeof setTimeout> | undefined;
      const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, STOP_GRACE_MS)));
      await Promise.race([this.ended, grace]);
      clearTimeout(timer);
      this.finish({ reason: 'stopped' });
    })();
    return this.stopping;
  }

  private finish(end: VmThreadEnd): void {
    if (this.end) return;
    this.end = end;
    this.handle.terminate();
    for (const reader of this.ringReaders) reader.close();
    const error = new Error(`${this.name} ${end.reason === 'failed' ? `failed: ${end.detail}` : 'is stopped'}`);
    this.started?.reject(new VmThreadStartError(`${this.name} did not start: ${end.detail ?? end.reason}`));
    this.started = undefined;
    for (const table of [this.execs, this.saves, this.counterRequests] as Map<number, Pending<unknown>>[]) {
      for (const pending of table.values()) pending.reject(error);
      table.clear();
    }
    this.execOutput.clear();
    this.resolveEnded(end);
  }
}
