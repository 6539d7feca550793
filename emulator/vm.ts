// A virtual machine: the guest image on v86, our NICs, the serial console,
// exec, snapshots and template starts.
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { ensureImage, imagePaths, READY_LINE, type GuestImage } from '../guest-images/index.ts';
import { SerialConsole } from './console.ts';
import { nicFactory } from './devices/index.ts';
import { ShellSession, type ExecOptions, type ExecResult } from './exec.ts';
import { GuestEndWatch, type GuestEnd } from './guest-end.ts';
import { randomBytes } from 'node:crypto';
import { formatMac, parseMac } from './net/frame.ts';
import { defaultMac } from './default-mac.ts';
import { ALL_NIC_MODELS, type GuestNic, type NicAttacher, type NicAttachment, type NicModel } from './net/nic.ts';
import { createContainedNic } from './net/contain.ts';
import { decodeSnapshot, encodeSnapshot, MAX_MEMORY_MIB, MIN_MEMORY_MIB, ZERO_FREE_MEMORY_COMMAND, type SnapshotContent } from './snapshot.ts';
import { readTemplate, templatePath, writeTemplate } from './template-cache.ts';
import { imageId } from './template-id.ts';
import { V86Machine, type MachineImages } from './v86/adapter.ts';

export { ExecTimeoutError, ShellClosedError, type ExecResult, type ExecOptions } from './exec.ts';

export interface NicSpec {
  model: NicModel;
  /** Locally administered and unique per VM when not given. */
  mac?: string;
  /**
   * Plug this NIC into a switch port at start (a `Switch` from host/ is one):
   * start() resolves after PORT_CREATE, NIC_CREATE and, when the guest's driver
   * has bound the adapter, NIC_CONNECT; stop() and a guest poweroff run the stop
   * lifecycle before the NIC is destroyed.
   */
  switch?: NicAttacher;
  /** CIDR for this NIC (e.g. '10.0.0.1/24'); not together with VmOptions.ip. */
  ip?: string;
}

export interface VmOptions {
  /** Names the VM in messages; MACs are derived from it when given. */
  name?: string;
  /** Guest RAM, default 128 (v86 needs more than 64 for the initrd). */
  memoryMiB?: number;
  /** eth0, eth1, ... in this order. */
  nics?: NicSpec[];
  hostname?: string;
  /** CIDR per NIC, in NIC order ('-' leaves one without an address); or give NicSpec.ip instead. */
  ip?: string[];
  gateway?: string;
  /** /etc/hosts entries: name -> address. */
  hosts?: Record<string, string>;
  /** Start from this snapshot (bytes or a file) instead of booting. */
  snapshot?: Uint8Array | string;
  /** Restore from a cached template of this image/memory/NICs (booting it once if needed), then personalise. */
  template?: boolean;
  /** Also write the console output here (a path or a stream). */
  consoleLog?: string | NodeJS.WritableStream;
  /** Defaults to the built image in $XDG_CACHE_HOME/vmswitch/image (built first when missing). */
  image?: GuestImage;
  /** Cold boot to `vmswitch-ready`, default 180 s. */
  bootTimeoutMs?: number;
  /** Progress messages (image build, template creation). */
  log?: (line: string) => void;
  /** v86's wasm, compiled once and shared (a VM thread gets the main thread's); default: v86 compiles its own. */
  wasmModule?: WebAssembly.Module;
}

/** Why a VM stopped: stop() was called, or the guest powered off or rebooted. */
export interface VmEnd {
  reason: 'stopped' | GuestEnd;
  /** A NIC's stop lifecycle on its switch failed (the VM was stopped all the same). */
  error?: Error;
}

/**
 * A NIC whose model threw (emulator/fault.ts): it is dead, its switch port ran
 * the stop lifecycle, its guest saw the link go down; the VM keeps running.
 */
export interface NicFault {
  /** 0 for eth0, ... */
  index: number;
  model: NicModel;
  error: Error;
  /** Date.now() when it failed. */
  time: number;
}

/** How a VM came up, for benchmarks and reports. */
export interface StartInfo {
  kind: 'cold' | 'snapshot' | 'template-created' | 'template';
  /** From start() to a responsive shell. */
  ms: number;
  templatePath?: string;
}

const DEFAULT_MEMORY_MIB = 128;
/** Defined beside the snapshot reader, which bounds a file's memoryMiB by them. */
export { MIN_MEMORY_MIB, MAX_MEMORY_MIB };
/**
 * Kernel parameters besides ours; VMSWITCH_KERNEL_ARGS replaces them (e.g.
 * without 'quiet' to see boot messages). The crypto self-tests and the ISA PnP
 * scan were the longest initcalls in v86 (initcall_debug); skipping them saves
 * about 15% of the boot's CPU time.
 */
export const KERNEL_ARGS = process.env.VMSWITCH_KERNEL_ARGS ?? 'console=ttyS0 quiet loglevel=3 tsc=reliable mitigations=off random.trust_cpu=on cryptomgr.notests=1 noisapnp';
/** The hostname a template is booted with, before personalisation. */
const TEMPLATE_HOSTNAME = 'vmswitch';

export { defaultMac };

function shellWord(value: string, what: string): string {
  if (!/^[A-Za-z0-9.:/,=_-]+$/.test(value)) throw new Error(`bad ${what}: ${JSON.stringify(value)}`);
  return value;
}

/** vmswitch-config KEY=VALUE words (also the vmswitch.KEY=VALUE kernel parameters). */
export function identitySettings(opts: { hostname?: string; ip?: string[]; gateway?: string; hosts?: Record<string, string>; macs?: string[] }): string[] {
  const words: string[] = [];
  if (opts.hostname !== undefined) words.push(`hostname=${shellWord(opts.hostname, 'hostname')}`);
  if (opts.ip?.length) words.push(`ip=${opts.ip.map((cidr) => shellWord(cidr, 'address')).join(',')}`);
  if (opts.gateway) words.push(`gw=${shellWord(opts.gateway, 'gateway')}`);
  if (opts.hosts && Object.keys(opts.hosts).length) {
    words.push(`hosts=${Object.entries(opts.hosts).map(([name, addr]) => `${shellWord(name, 'host name')}=${shellWord(addr, 'host address')}`).join(',')}`);
  }
  if (opts.macs?.length) words.push(`mac=${opts.macs.map((mac, i) => `eth${i}=${mac}`).join(',')}`);
  return words;
}

/**
 * The per-NIC address list: VmOptions.ip, or built from NicSpec.ip ('-' for a
 * NIC without one). Both at once is ambiguous, so it is refused.
 */
export function nicAddresses(specs: readonly NicSpec[], ip: string[] | undefined): string[] | undefined {
  const perNic = specs.some((spec) => spec.ip !== undefined);
  if (!perNic) return ip;
  if (ip !== undefined) throw new Error('give addresses either as VmOptions.ip or as NicSpec.ip on the NICs, not both');
  return specs.map((spec, i) => {
    if (spec.ip === undefined) return '-';
    if (typeof spec.ip !== 'string' || !/^[^/]+\/\d{1,3}$/.test(spec.ip)) throw new Error(`nics[${i}].ip must be an address with a prefix length like '10.0.0.1/24', not ${JSON.stringify(spec.ip)}`);
    return spec.ip;
  });
}

async function loadImage(opts: VmOptions): Promise<GuestImage> {
  if (opts.image) return opts.image;
  const paths = imagePaths();
  if (paths.manifest) return { ...paths, manifest: paths.manifest };
  return ensureImage({ log: opts.log });
}

async function readImages(image: GuestImage, withKernel: boolean): Promise<MachineImages> {
  const [bios, vgaBios] = await Promise.all([readFile(image.bios), readFile(image.vgaBios)]);
  if (!withKernel) return { bios, vgaBios };
  const [kernel, initrd] = await Promise.all([readFile(image.kernel), readFile(image.initrd)]);
  return { bios, vgaBios, kernel, initrd };
}

export class VirtualMachine {
  readonly nics: GuestNic[];
  readonly console: SerialConsole;
  private readonly shell: ShellSession;
  private stopped = false;
  private resolveEnded!: (end: VmEnd) => void;
  /**
   * Settles once, when the VM has stopped: after stop(), or when the guest
   * powered off, halted or rebooted (the kernel's 'reboot: Power down' /
   * 'System halted' / 'Restarting system'; the VM is then stopped, since a
   * reboot would boot without the runtime's personalisation).
   */
  readonly ended: Promise<VmEnd> = new Promise((resolve) => (this.resolveEnded = resolve));
  private readonly cleanups: (() => void)[] = [];
  /** Per NIC index: its switch attachment, if its NicSpec had a `switch`. */
  private readonly nicAttachments: (NicAttachment | undefined)[];
  private stopping: Promise<void> | undefined;
  private log: ((line: string) => void) | undefined;
  startInfo: StartInfo = { kind: 'cold', ms: 0 };
  /** NICs that failed, in the order they did (each NIC at most once). */
  readonly faults: NicFault[] = [];
  private readonly faultListeners = new Set<(fault: NicFault) => void>();

  private constructor(
    readonly name: string,
    readonly memoryMiB: number,
    private readonly machine: V86Machine,
    nics: GuestNic[],
    private readonly image: GuestImage,
  ) {
    this.nics = nics;
    this.nicAttachments = nics.map(() => undefined);
    this.console = new SerialConsole(machine);
    this.shell = new ShellSession(this.console);
    this.watchForPowerOff();
    nics.forEach((nic, index) => nic.onDriverEvent((event) => {
      if (event.type === 'failed') this.nicFailed({ index, model: nic.model, error: event.error, time: Date.now() });
    }));
  }

  /** Called when one of this VM's NICs fails (see `faults`). Returns the unsubscribe function. */
  onNicFault(listener: (fault: NicFault) => void): () => void {
    this.faultListeners.add(listener);
    return () => this.faultListeners.delete(listener);
  }

  private nicFailed(fault: NicFault): void {
    this.faults.push(fault);
    const line = `${this.name}: eth${fault.index} (${fault.model}) failed and is out of service (the VM keeps running): ${fault.error.stack ?? fault.error.message}`;
    if (this.log) this.log(line);
    else console.error(`vmswitch: ${line}`);
    for (const listener of [...this.faultListeners]) {
      try {
        listener(fault);
      } catch (error) {
        console.error(`vmswitch: ${this.name}: a NIC fault listener threw:`, error);
      }
    }
  }

  /**
   * Boots (or restores) the guest, personalises it, then plugs every NIC whose
   * spec has a `switch` into it, in NIC order. If one cannot join (e.g. an
   * extension vetoes NIC_CREATE: a NicAttachError naming it), the NICs already
   * attached are detached, the VM is stopped and start() rejects with that error.
   */
  static async start(opts: VmOptions = {}): Promise<VirtualMachine> {
    const specs = opts.nics ?? [];
    specs.forEach((spec, i) => {
      if (spec.switch !== undefined && typeof (spec.switch as Partial<NicAttacher> | null)?.attachNic !== 'function') {
        throw new Error(`nics[${i}].switch must be a Switch (or another NicAttacher), not ${String(spec.switch)}`);
      }
    });
    const ip = nicAddresses(specs, opts.ip);
    const vm = await VirtualMachine.launch(ip === opts.ip ? opts : { ...opts, ip });
    vm.log = opts.log;
    await vm.attachNics(specs);
    return vm;
  }

  private async attachNics(specs: readonly NicSpec[]): Promise<void> {
    try {
      for (const [index, spec] of specs.entries()) {
        if (!spec.switch) continue;
        if (this.stopped) throw new Error(`${this.name} stopped while its NICs were joining the switch`);
        const attachment = await spec.switch.attachNic(this.nics[index]!, { vmName: this.name, index });
        if (this.stopped) {
          // The VM stopped (e.g. the guest powered off) while this one was joining: the stop did not see it.
          await attachment.detach();
          throw new Error(`${this.name} stopped while its NICs were joining the switch`);
        }
        this.nicAttachments[index] = attachment;
      }
    } catch (error) {
      // stop() detaches the NICs already attached before it destroys anything.
      await this.stop().catch(() => undefined);
      throw error;
    }
  }

  private static async launch(opts: VmOptions): Promise<VirtualMachine> {
    const began = performance.now();
    const name = opts.name ?? 'vm';
    const specs = opts.nics ?? [];
    for (const spec of specs) {
      if (!ALL_NIC_MODELS.includes(spec.model)) throw new Error(`unknown NIC model '${spec.model}' (expected ${ALL_NIC_MODELS.join(', ')})`);
    }
    if (specs.filter((spec) => spec.model === 'v86-virtio').length > 1) throw new Error("v86 has only one virtio-net per VM: at most one 'v86-virtio' NIC");
    if (opts.memoryMiB !== undefined && (!Number.isInteger(opts.memoryMiB) || opts.memoryMiB < MIN_MEMORY_MIB || opts.memoryMiB > MAX_MEMORY_MIB)) {
      throw new Error(`memory must be ${MIN_MEMORY_MIB}-${MAX_MEMORY_MIB} MiB, not ${opts.memoryMiB}`);
    }
    const macs = specs.map((spec, i) => formatMac(parseMac(spec.mac ?? defaultMac(opts.name, i))));
    // Bad names and addresses are refused before anything starts.
    const identity = { hostname: opts.hostname ?? name, ip: opts.ip, gateway: opts.gateway, hosts: opts.hosts };
    const bootSettings = identitySettings(identity);
    const withMacs = identitySettings({ ...identity, macs });
    const image = await loadImage(opts);

    if (opts.snapshot !== undefined) {
      const bytes = typeof opts.snapshot === 'string' ? new Uint8Array(await readFile(opts.snapshot)) : opts.snapshot;
      const vm = await VirtualMachine.restore(bytes, name, image, opts, opts.nics ? macs : undefined);
      // A snapshot keeps its identity unless told otherwise.
      const settings = identitySettings({ hostname: opts.hostname, ip: opts.ip, gateway: opts.gateway, hosts: opts.hosts, macs: opts.nics ? macs : undefined });
      return vm.finishStart(() => vm.personalise(settings), { kind: 'snapshot', began });
    }

    const memoryMiB = opts.memoryMiB ?? DEFAULT_MEMORY_MIB;
    if (opts.template) {
      const path = templatePath({ imageId: await imageId(image.manifest), memoryMiB, nicModels: specs.map((s) => s.model) });
      const template = await readTemplate(path);
      let restored: VirtualMachine | undefined;
      if (template) {
        try {
          restored = await VirtualMachine.restore(template, name, image, opts, macs);
        } catch (error) {
          opts.log?.(`template ${path} is unusable (${(error as Error).message}); booting a new one`);
        }
      }
      if (restored) {
        const vm = restored;
        return vm.finishStart(() => vm.personalise(withMacs), { kind: 'template', began, templatePath: path });
      }
      opts.log?.(`creating a template snapshot (one cold boot of ${memoryMiB} MiB, NICs: ${specs.map((s) => s.model).join(', ') || 'none'}) ...`);
      const vm = await VirtualMachine.coldBoot(name, image, memoryMiB, specs, macs, opts, [`hostname=${TEMPLATE_HOSTNAME}`]);
      return vm.finishStart(
        async () => {
          await writeTemplate(path, await vm.saveSnapshot());
          await vm.personalise(bootSettings);
        },
        { kind: 'template-created', began, templatePath: path },
      );
    }

    const vm = await VirtualMachine.coldBoot(name, image, memoryMiB, specs, macs, opts, bootSettings);
    vm.startInfo = { kind: 'cold', ms: performance.now() - began };
    return vm;
  }

  /** The last steps of a start; the VM is stopped if one fails. */
  private async finishStart(steps: () => Promise<void>, info: { kind: StartInfo['kind']; began: number; templatePath?: string }): Promise<VirtualMachine> {
    try {
      await steps();
    } catch (error) {
      await this.stop();
      throw error;
    }
    this.startInfo = { kind: info.kind, ms: performance.now() - info.began, ...(info.templatePath ? { templatePath: info.templatePath } : {}) };
    return this;
  }

  private static async coldBoot(
    name: string,
    image: GuestImage,
    memoryMiB: number,
    specs: NicSpec[],
    macs: string[],
    opts: VmOptions,
    settings: string[],
  ): Promise<VirtualMachine> {
    const factories = await Promise.all(specs.map((spec) => nicFactory(spec.model)));
    const nics: GuestNic[] = [];
    const machine = await V86Machine.create({
      memoryBytes: memoryMiB * 1024 * 1024,
      images: await readImages(image, true),
      cmdline: [KERNEL_ARGS, ...settings.map((word) => `vmswitch.${word}`)].join(' '),
      v86VirtioNet: specs.some((spec) => spec.model === 'v86-virtio'),
      ...(opts.wasmModule ? { wasmModule: opts.wasmModule } : {}),
      setup: (platform) => {
        factories.forEach((factory, i) => nics.push(createContainedNic(factory, platform, { mac: parseMac(macs[i]!) }, `${name}/eth${i} (${specs[i]!.model})`)));
      },
    });
    const vm = new VirtualMachine(name, memoryMiB, machine, nics, image);
    try {
      vm.attachLog(opts.consoleLog);
      await vm.waitForReady(opts.bootTimeoutMs ?? 180_000);
      return vm;
    } catch (error) {
      await vm.stop();
      throw error;
    }
  }

  private static async restore(bytes: Uint8Array, name: string, image: GuestImage, opts: VmOptions, macs: string[] | undefined): Promise<VirtualMachine> {
    const { header, v86State } = await decodeSnapshot(bytes);
    if (header.image.kernelVersion !== image.manifest.kernelVersion) {
      throw new Error(`snapshot is of kernel ${header.image.kernelVersion}, the image has ${image.manifest.kernelVersion}`);
    }
    if (opts.memoryMiB !== undefined && opts.memoryMiB !== header.memoryMiB) {
      throw new Error(`snapshot has ${header.memoryMiB} MiB of RAM, not ${opts.memoryMiB}`);
    }
    if (opts.nics && opts.nics.map((n) => n.model).join() !== header.nics.map((n) => n.model).join()) {
      throw new Error(`snapshot has NICs [${header.nics.map((n) => n.model).join(', ')}], not [${opts.nics.map((n) => n.model).join(', ')}]`);
    }
    const factories = await Promise.all(header.nics.map((nic) => nicFactory(nic.model)));
    const nics: GuestNic[] = [];
    const machine = await V86Machine.create({
      memoryBytes: header.memoryMiB * 1024 * 1024,
      images: await readImages(image, false),
      v86VirtioNet: header.nics.some((nic) => nic.model === 'v86-virtio'),
      ...(opts.wasmModule ? { wasmModule: opts.wasmModule } : {}),
      setup: (platform) => {
        factories.forEach((factory, i) =>
          nics.push(createContainedNic(factory, platform, { mac: parseMac(macs?.[i] ?? header.nics[i]!.mac) }, `${name}/eth${i} (${header.nics[i]!.model})`)),
        );
      },
      restore: {
        state: v86State,
        afterRestore: () => nics.forEach((nic, i) => nic.restoreState(header.nics[i]!.state)),
      },
    });
    const vm = new VirtualMachine(name, header.memoryMiB, machine, nics, image);
    try {
      vm.attachLog(opts.consoleLog);
      if (!(await vm.shell.sync(10_000))) throw new Error(`the restored guest's shell does not answer; console: ${JSON.stringify(vm.console.recent(300))}`);
      return vm;
    } catch (error) {
      await vm.stop();
      throw error;
    }
  }

  private attachLog(target: VmOptions['consoleLog']): void {
    if (!target) return;
    const stream = typeof target === 'string' ? createWriteStream(target, { flags: 'a' }) : target;
    const off = this.console.onData((bytes) => stream.write(bytes));
    this.cleanups.push(() => {
      off();
      if (typeof target === 'string') stream.end();
    });
  }

  private async waitForReady(timeoutMs: number): Promise<void> {
    let seen = '';
    let off: (() => void) | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${this.name}: the guest did not print '${READY_LINE}' within ${timeoutMs} ms; last console output: ${JSON.stringify(this.console.recent(600))}`)),
          timeoutMs,
        );
        off = this.console.onData((bytes) => {
          seen = (seen + Buffer.from(bytes).toString('latin1')).slice(-200);
          if (seen.includes(READY_LINE)) resolve();
        });
      });
    } finally {
      clearTimeout(timer);
      off?.();
    }
    if (!(await this.shell.sync(20_000))) throw new Error(`${this.name}: the guest shell does not answer after boot; console: ${JSON.stringify(this.console.recent(300))}`);
  }

  private async personalise(settings: string[]): Promise<void> {
    // Every VM restored from one snapshot starts with the same kernel RNG state:
    // mixing fresh host bytes into the pool gives each its own /dev/urandom stream.
    const reseed = `echo ${randomBytes(32).toString('hex')} > /dev/urandom`;
    const command = settings.length ? `${reseed}; /sbin/vmswitch-config ${settings.join(' ')}` : reseed;
    const result = await this.exec(command, { timeoutMs: 20_000 });
    if (result.exitCode !== 0) throw new Error(`${this.name}: vmswitch-config failed (exit ${result.exitCode}): ${result.output.trim()}`);
  }

  /** Runs a shell command in the guest (in a subshell, stdin from /dev/null); calls are serialised. */
  exec(command: string, opts?: ExecOptions): Promise<ExecResult> {
    if (this.stopped) return Promise.reject(new Error(`${this.name} is stopped`));
    return this.shell.exec(command, opts);
  }

  /** v86's state and our NICs' states, taken in the same tick so they agree. */
  async saveSnapshot(): Promise<Uint8Array> {
    if (this.stopped) throw new Error(`${this.name} is stopped`);
    // Stale data in free guest pages is most of a state: zeroed, v86 leaves them out.
    await this.exec(ZERO_FREE_MEMORY_COMMAND, { timeoutMs: 60_000 });
    const v86State = this.machine.saveState();
    const header: SnapshotContent = {
      memoryMiB: this.memoryMiB,
      nics: this.nics.map((nic) => ({ model: nic.model, mac: formatMac(nic.mac), state: nic.saveState() })),
      image: { kernelVersion: this.image.manifest.kernelVersion, recipeHash: this.image.manifest.recipeHash },
      createdAt: new Date().toISOString(),
    };
    return encodeSnapshot(header, await v86State);
  }

  private watchForPowerOff(): void {
    const watch = new GuestEndWatch();
    const off = this.console.onData((bytes) => {
      const reason = watch.feed(bytes);
      if (!reason) return;
      off();
      // Not from inside the console callback: stopping destroys the emulator.
      // A failed detach is reported in `ended` (and the log): nobody awaits this stop.
      setImmediate(() => void this.stopWith(reason).catch((error: unknown) => this.log?.(`${this.name}: ${(error as Error).message}`)));
    });
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /**
   * Per NIC index, the switch port it is plugged into (undefined for a NIC
   * without a `switch`). `label` names it ("port 3"); with a host/ Switch it is
   * a SwitchPortAttachment, which also has `portId`. Kept after the VM stops.
   */
  get attachments(): readonly (NicAttachment | undefined)[] {
    return [...this.nicAttachments];
  }

  /**
   * Frees everything: pending execs fail, each attached NIC leaves its switch
   * (NIC_DISCONNECT, drain, NIC_DELETE, PORT_TEARDOWN, PORT_DELETE), then NICs and
   * the emulator are destroyed and timers cleared. A second call waits for the
   * same stop. Rejects (after stopping all the same) if a NIC could not leave its switch.
   */
  stop(): Promise<void> {
    return this.stopWith('stopped');
  }

  private stopWith(reason: VmEnd['reason']): Promise<void> {
    this.stopping ??= this.shutDown(reason);
    return this.stopping;
  }

  private async shutDown(reason: VmEnd['reason']): Promise<void> {
    this.stopped = true;
    this.shell.close();
    // The switch first, while the NICs still exist: the port drains, then goes.
    const failures: string[] = [];
    let cause: unknown;
    for (const attachment of this.nicAttachments) {
      if (!attachment) continue;
      try {
        await attachment.detach();
      } catch (error) {
        cause ??= error;
        failures.push(`${attachment.label}: ${(error as Error).message}`);
      }
    }
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    for (const nic of this.nics) nic.destroy();
    this.console.close();
    await this.machine.destroy();
    const error = failures.length ? new Error(`${this.name}: leaving the switch failed (${failures.join('; ')})`, { cause }) : undefined;
    this.resolveEnded({ reason, ...(error ? { error } : {}) });
    if (error) throw error;
  }
}
