// The browser lab's model (no DOM): one switch on the page's thread, one Web
// Worker per VM. A VM's NICs join the switch through the same attachment the
// Node lab uses (host/attach.ts), via RemoteNic mirrors of the worker's devices.
//
//   start: worker creates devices -> 'nics' -> PORT_CREATE, NIC_CREATE per NIC;
//          the guest's driver binding gives NIC_CONNECT (a restored guest's
//          driver is bound already: NIC_CONNECT right after NIC_CREATE).
//   stop:  NIC_DISCONNECT ... PORT_DELETE per NIC (frames stop first), then the
//          worker is told to stop and is terminated.
import { Switch } from '../../host/switch.ts';
import { Emitter } from '../../host/events.ts';
import { MacLearningForwarder } from '../../host/extensions/mac-learning.ts';
import { PcapngCapture } from '../../host/extensions/capture/capture.ts';
import { SwitchPortAttachment } from '../../host/attach.ts';
import type { NicModel } from '../../emulator/net/nic.ts';
import { NIC_MODELS } from '../../emulator/net/nic.ts';
import { formatMac } from '../../emulator/net/frame.ts';
import { RemoteNic } from './remote-nic.ts';
import { FrameLog } from './frame-log.ts';
import type { FromWorker, ImageUrls, ToWorker, VmBootConfig, VmPhase } from '../worker/protocol.ts';

export type BootMode = 'snapshot' | 'cold';

export interface VmSpec {
  name: string;
  nics: NicModel[];
  boot?: BootMode;
}

export type VmState = 'stopped' | 'starting' | 'running' | 'stopping' | 'failed';

/** What the page needs of a Worker (tests may pass something else). */
export interface WorkerLike {
  postMessage(message: unknown, transfer: Transferable[]): void;
  onmessage: ((event: MessageEvent) => void) | null;
  onerror: ((event: ErrorEvent) => void) | null;
  terminate(): void;
}

export interface LabOptions {
  createWorker: (name: string) => WorkerLike;
  image: ImageUrls;
  /** The template snapshot for a NIC model list, if the server has one. */
  snapshotFor?: (models: readonly NicModel[]) => Promise<string | undefined>;
  memoryMiB?: number;
  /** VM MACs and addresses from elsewhere (a shared switch assigns them: shared-uplink.ts); default 02:76:6d:.. and 10.0.0.N/24. */
  addressing?: VmAddressing;
}

export interface VmAddressing {
  macFor(vmNumber: number, nicIndex: number): string;
  ipFor(vmNumber: number): string;
  prefixLength: number;
}

export interface LabEvents {
  /** A VM was added, started, stopped or changed phase. */
  vm: { name: string };
  console: { name: string; text: string };
  /** A message for the page's log line (errors included). */
  log: { level: 'info' | 'error'; message: string };
}

export class LabVm {
  state: VmState = 'stopped';
  phase: VmPhase | 'idle' = 'idle';
  detail = '';
  /** Start to prompt, ms, of the last start. */
  bootMs: number | undefined;
  bootedFrom: BootMode | undefined;
  worker: WorkerLike | null = null;
  nics: RemoteNic[] = [];
  attachments: SwitchPortAttachment[] = [];
  portIds: number[] = [];
  private startedAt = 0;

  constructor(
    readonly spec: Required<VmSpec>,
    /** 1-based: the VM gets 10.0.0.<number>/24 on eth0. */
    readonly number: number,
    readonly addressing?: VmAddressing,
  ) {}

  get name(): string {
    return this.spec.name;
  }

  get ip(): string {
    return this.addressing?.ipFor(this.number) ?? `10.0.0.${this.number}`;
  }

  get prefixLength(): number {
    return this.addressing?.prefixLength ?? 24;
  }

  macFor(nicIndex: number): string {
    if (this.addressing) return this.addressing.macFor(this.number, nicIndex);
    // Locally administered, unique per VM and NIC on this page.
    return formatMac(Uint8Array.of(0x02, 0x76, 0x6d, this.number & 0xff, nicIndex & 0xff, (this.number >> 8) & 0xff));
  }

  markStart(): void {
    this.startedAt = performance.now();
    this.bootMs = undefined;
  }

  markReady(): void {
    this.bootMs = performance.now() - this.startedAt;
  }
}

const NAME_PATTERN = /^[a-z][a-z0-9-]{0,14}$/;

export class Lab {
  readonly sw: Switch;
  readonly capture: PcapngCapture;
  readonly frameLog: FrameLog;
  readonly events = new Emitter<LabEvents>();
  readonly vms = new Map<string, LabVm>();
  readonly startedAt = Date.now();
  private nextNumber = 1;

  constructor(private readonly options: LabOptions) {
    this.capture = new PcapngCapture({ name: 'capture' });
    this.frameLog = new FrameLog();
    this.sw = new Switch({ name: 'lab', extensions: [this.capture, this.frameLog, new MacLearningForwarder()] });
  }

  /** Checks a VM spec; returns the problem in words, or undefined. */
  specProblem(spec: VmSpec): string | undefined {
    if (!NAME_PATTERN.test(spec.name)) return `VM name '${spec.name}' must be a lower-case letter then up to 14 letters, digits or '-'`;
    if (this.vms.has(spec.name)) return `there is already a VM named '${spec.name}'`;
    if (!spec.nics.length) return 'a VM needs at least one NIC';
    if (spec.nics.length > 2) return 'at most two NICs per VM';
    const bad = spec.nics.find((m) => !NIC_MODELS.includes(m));
    if (bad) return `unknown NIC model '${bad}' (e1000 or virtio)`;
    if (this.nextNumber > 254) return 'the lab has run out of addresses';
    return undefined;
  }

  addVm(spec: VmSpec): LabVm {
    const problem = this.specProblem(spec);
    if (problem) throw new Error(problem);
    const vm = new LabVm({ name: spec.name, nics: [...spec.nics], boot: spec.boot ?? 'snapshot' }, this.nextNumber++, this.options.addressing);
    this.vms.set(vm.name, vm);
    this.events.emit('vm', { name: vm.name });
    return vm;
  }

  private hosts(): Record<string, string> {
    const hosts: Record<string, string> = {};
    for (const vm of this.vms.values()) hosts[vm.name] = vm.ip;
    return hosts;
  }

  private require(name: string): LabVm {
    const vm = this.vms.get(name);
    if (!vm) throw new Error(`no VM named '${name}'`);
    return vm;
  }

  private setPhase(vm: LabVm, phase: VmPhase, detail = ''): void {
    vm.phase = phase;
    vm.detail = detail;
    this.events.emit('vm', { name: vm.name });
  }

  async start(name: string, boot?: BootMode): Promise<void> {
    const vm = this.require(name);
    if (vm.state === 'starting' || vm.state === 'running' || vm.state === 'stopping') throw new Error(`VM '${name}' is ${vm.state}`);
    if (boot) vm.spec.boot = boot;
    vm.state = 'starting';
    vm.markStart();
    vm.attachments = [];
    vm.portIds = [];
    vm.nics = [];
    this.setPhase(vm, 'loading');
    const snapshotUrl = vm.spec.boot === 'snapshot' ? await this.options.snapshotFor?.(vm.spec.nics) : undefined;
    vm.bootedFrom = snapshotUrl ? 'snapshot' : 'cold';
    const config: VmBootConfig = {
      name: vm.name,
      memoryMiB: this.options.memoryMiB ?? 128,
      nics: vm.spec.nics.map((model, i) => ({ model, mac: vm.macFor(i) })),
      ip: vm.spec.nics.map((_, i) => (i === 0 ? `${vm.ip}/${vm.prefixLength}` : '-')),
      hosts: this.hosts(),
      image: this.options.image,
      ...(snapshotUrl ? { snapshotUrl } : {}),
    };
    const worker = this.options.createWorker(vm.name);
    vm.worker = worker;
    const post = (message: ToWorker, transfer: Transferable[] = []) => worker.postMessage(message, transfer);
    let settle!: { resolve: () => void; reject: (error: Error) => void };
    const ready = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    const fail = (message: string) => {
      if (vm.worker !== worker) return;
      this.events.emit('log', { level: 'error', message: `${vm.name}: ${message}` });
      void this.teardown(vm, 'failed', message);
      settle.reject(new Error(`${vm.name}: ${message}`));
    };
    worker.onerror = (event) => {
      event.preventDefault?.();
      fail(event.message || 'the VM worker failed');
    };
    worker.onmessage = (event) => {
      if (vm.worker !== worker) return;
      try {
        onMessage(event.data as FromWorker);
      } catch (error) {
        // A worker message the page cannot handle fails that VM, not the page.
        fail(`handling a '${String((event.data as { type?: unknown })?.type)}' message: ${(error as Error)?.message ?? String(error)}`);
      }
    };
    const onMessage = (message: FromWorker): void => {
      switch (message.type) {
        case 'nics':
          this.attach(vm, message, post).catch((error: Error) => fail(error.message));
          break;
        case 'console':
          this.events.emit('console', { name: vm.name, text: message.text });
          break;
        case 'frames':
          vm.nics[message.nic]?.fromWorker(message.frames);
          break;
        case 'driver':
          vm.nics[message.nic]?.driverEvent(message.event);
          if (message.event.type === 'failed') {
            // Decision (issue 12): the NIC is dead and its port stops (the attachment saw the event); the VM keeps running.
            this.events.emit('log', { level: 'error', message: `${vm.name}: eth${message.nic} failed and is out of service: ${message.event.message}` });
            this.events.emit('vm', { name: vm.name });
          }
          break;
        case 'counters':
          vm.nics[message.nic]?.updateCounters(message.counters);
          break;
        case 'phase':
          if (message.phase === 'ready') {
            vm.markReady();
            vm.state = 'running';
            settle.resolve();
          }
          if (message.phase === 'stopped' && vm.state === 'running') {
            // The guest powered itself off: the stop lifecycle, as for a stop from here.
            this.events.emit('log', { level: 'info', message: `${vm.name}: the guest powered off` });
            void this.stop(vm.name);
          }
          if (message.phase === 'booting') vm.bootedFrom = 'cold';
          if (message.phase === 'failed') {
            fail(message.detail ?? 'the VM failed');
            break;
          }
          this.setPhase(vm, message.phase, message.detail);
          break;
        case 'error':
          fail(message.message);
          break;
      }
    };
    post({ type: 'start', config });
    return ready;
  }

  private async attach(vm: LabVm, message: Extract<FromWorker, { type: 'nics' }>, post: (m: ToWorker, t?: Transferable[]) => void): Promise<void> {
    vm.nics = message.nics.map((info, index) => new RemoteNic(info.model, index, info, (m, t) => post(m as ToWorker, t)));
    for (const [index, nic] of vm.nics.entries()) {
      const attachment = await SwitchPortAttachment.attach(this.sw, nic, { vmName: vm.name, index });
      vm.attachments.push(attachment);
      vm.portIds.push(attachment.portId);
    }
    this.events.emit('vm', { name: vm.name });
  }

  /** Stop from the page: the switch lifecycle first (no frame flows after NIC_DISCONNECT), then the emulator. */
  async stop(name: string): Promise<void> {
    const vm = this.require(name);
    if (vm.state === 'stopped' || vm.state === 'stopping' || vm.state === 'failed') return;
    vm.state = 'stopping';
    this.events.emit('vm', { name: vm.name });
    await this.teardown(vm, 'stopped');
  }

  private async teardown(vm: LabVm, final: 'stopped' | 'failed', detail = ''): Promise<void> {
    const worker = vm.worker;
    const attachments = vm.attachments;
    vm.attachments = [];
    for (const attachment of attachments) {
      try {
        await attachment.detach();
      } catch (error) {
        this.events.emit('log', { level: 'error', message: `${vm.name}: stopping ${attachment.label}: ${(error as Error).message}` });
      }
    }
    for (const nic of vm.nics) nic.destroy();
    if (worker) {
      try {
        worker.postMessage({ type: 'stop' } satisfies ToWorker, []);
      } catch {
        // Already gone.
      }
      // Give the emulator a moment to free itself, then end the thread whatever it does.
      setTimeout(() => worker.terminate(), 200);
    }
    vm.worker = null;
    vm.state = final;
    this.setPhase(vm, final === 'failed' ? 'failed' : 'stopped', detail);
  }

  input(name: string, text: string): void {
    const vm = this.require(name);
    vm.worker?.postMessage({ type: 'input', text } satisfies ToWorker, []);
  }

  setCapture(on: boolean): void {
    this.capture.enabled = on;
  }

  pcapng(): Uint8Array {
    return this.capture.bytes();
  }
}
