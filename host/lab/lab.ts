// The Lab: VMs whose NICs are ports of extensible switches (one by default;
// more with addSwitch, each NIC naming its switch, links in links.ts, a whole
// lab file in topology.ts). It starts and
// stops VMs by name (the seed's OID lifecycle through host/attach.ts), gives
// every guest every VM's name in /etc/hosts, labels the switch's OID stream
// with VM names, and keeps per-port counters (also of ports already deleted:
// port-records.ts). MTU/MAC changes the devices cannot see are read from the
// guest after commands that may make them (link-settings.ts).
//
//   const lab = new Lab();                                  // capture (paused), ACL (empty), MAC learning
//   lab.on('oid', (e) => console.log(e.vm, e.nic, e.oid, e.status));
//   await lab.start('a', { nics: ['e1000'] });              // 10.0.0.1/24 on eth0 unless `ip` says otherwise
//   await lab.start('b', { nics: [{ model: 'virtio', vlan: { type: 'vlan', mode: 'access', vlanId: 10 } }] });
//   const { output, exitCode } = await lab.exec('a', 'ping -c 3 b');
//   lab.ports();                                            // per-port counters with VM names
//   await lab.stop('b');                                    // NIC_DISCONNECT ... PORT_DELETE, then the VM stops
//   await lab.close();
import type { NicModel } from '../../emulator/net/nic.ts';
import { NIC_MODELS } from '../../emulator/net/nic.ts';
import { formatMac } from '../../emulator/net/frame.ts';
import { GuestEndWatch } from '../../emulator/guest-end.ts';
import { SwitchPortAttachment } from '../attach.ts';
import { Emitter } from '../events.ts';
import type { OidEvent } from '../events.ts';
import type { PortProperty } from '../port.ts';
import { Switch } from '../switch.ts';
import { AclFilter } from '../extensions/acl.ts';
import { MacLearningForwarder } from '../extensions/mac-learning.ts';
import { PcapngCapture } from '../extensions/capture/capture.ts';
import type { VlanProperty } from '../extensions/vlan.ts';
import type { GuestExecResult, LabGuest, LaunchGuest, VmThreadPlacement } from './guest.ts';
import { launchVirtualMachine } from './guest.ts';
import { LabError } from './errors.ts';
import { LabPortRecords } from './port-records.ts';
import type { LabPortRow } from './port-records.ts';
import { mayChangeLinkSettings, syncLinkSettings } from './link-settings.ts';
import { LabUplinks, randomLabId } from './uplinks.ts';
import type { Uplink } from '../uplink/uplink.ts';
import type { ExternalPort, ExternalPortOptions } from '../uplink/external-port.ts';

export interface LabNicSpec {
  model: NicModel;
  /** The lab switch this NIC joins, by name (default: the lab's first switch). */
  switch?: string;
  /** Lower-case colon-separated MAC (default: derived from the VM's name and the NIC's place). */
  mac?: string;
  /** CIDR for this NIC; eth0 defaults to 10.0.0.n/24 (n: the VM's place in the lab), others to none. */
  ip?: string;
  /** The port's VLAN (access or trunk), added before NIC_CREATE. */
  vlan?: VlanProperty;
  /** Further port properties (security, custom). */
  properties?: PortProperty[];
}

export interface LabVmOptions {
  /** eth0, eth1, ... in this order: a model name or a full spec. */
  nics: (NicModel | LabNicSpec)[];
  /** Default: the VM's name. */
  hostname?: string;
  /** Guest RAM in MiB (default: the runtime's, 128). */
  memoryMiB?: number;
  /**
   * Shell commands that finish the guest's set-up on every start (further
   * addresses, routes, sysctls: a restart comes from the template and has
   * none of them). The start fails when one exits non-zero.
   */
  setup?: string[];
  /** Start from its template snapshot (true) or cold-boot (false); default: the lab's `template`. */
  template?: boolean;
}

export type LabVmState = 'defined' | 'starting' | 'running' | 'stopping' | 'stopped' | 'failed';

export interface LabOptions {
  /** The switch's name (default 'lab'). */
  name?: string;
  /** Bring your own switch (its extensions stay as they are). Default: capture (paused), ACL (no rules), MAC learning. */
  switch?: Switch;
  /** The default stack's capture extension instead of a paused in-memory one (e.g. captureToFile(path).capture). */
  capture?: PcapngCapture;
  /** Start VMs from template snapshots (default true); false cold-boots every VM. */
  template?: boolean;
  /** How VMs are started (default: v86 VMs, each in its own worker thread). */
  launch?: LaunchGuest;
  /** For the default launch: each VM in its own worker thread (default) or all on the main thread (tests, debugging). */
  thread?: VmThreadPlacement;
  /** How long start waits for each NIC's NIC_CONNECT (default 30 s; a NIC whose driver never binds stays 'created'). */
  connectTimeoutMs?: number;
  /** Default exec time limit (default 60 s). */
  execTimeoutMs?: number;
  /**
   * Salts the MACs made from VM names (emulator/vm.ts defaultMac), so two
   * labs joined by an uplink do not collide. Default: random per Lab; give
   * the same id to keep a lab's MACs across restarts (labIdFor in uplinks.ts).
   */
  labId?: string;
  /** MTU set on every VM NIC when it starts (default: the uplink's MTU once one is attached; null: the guest's own). */
  vmMtu?: number | null;
}

/** An OID event of the lab's switch, with the VM and NIC it concerns (when the port is a lab VM's). */
export interface LabOidEvent extends OidEvent {
  vm?: string;
  /** The guest's interface, e.g. 'eth0'. */
  nic?: string;
  model?: NicModel;
  /** The switch's name, when the lab has more than one. */
  switch?: string;
}

export interface LabVmEvent {
  time: number;
  vm: string;
  state: LabVmState;
  /** Why it stopped or failed ('host', 'guest poweroff', an error message). */
  detail?: string;
}

/**
 * A VM's NIC failed: its model threw (emulator/fault.ts). The NIC is dead, its
 * port runs the stop lifecycle (NIC_DISCONNECT ... PORT_DELETE, in the oid
 * stream), the guest sees its link go down, and the VM keeps running.
 */
export interface LabFaultEvent {
  time: number;
  vm: string;
  /** The guest's interface, e.g. 'eth0'. */
  nic: string;
  model: NicModel;
  /** The NIC's port when the fault came (undefined if it had not joined yet). */
  portId?: number;
  /** The exception's name and message. */
  message: string;
}

export interface LabEvents {
  oid: LabOidEvent;
  vm: LabVmEvent;
  fault: LabFaultEvent;
  /** Progress worth showing a person (image build, template creation, hosts updates). */
  progress: { time: number; vm?: string; message: string };
}

export class LabVm {
  state: LabVmState = 'defined';
  guest: LabGuest | undefined;
  /** Port ids of this VM's NICs while it runs, in NIC order. */
  portIds: number[] = [];
  /** How many times it has been started. */
  starts = 0;
  /** The /etc/hosts list the guest has. */
  hostsGiven = '';
  /** Start or stop in progress: the next one waits for it. */
  busy: Promise<unknown> = Promise.resolve();
  poweredOff = false;
  offConsole: (() => void) | undefined;
  /** NIC faults of this VM, across its starts. */
  readonly faults: LabFaultEvent[] = [];
  offNicFaults: (() => void)[] = [];
  /** This VM's own template choice (LabVmOptions.template), else the lab's. */
  template: boolean | undefined;

  /** The switch of each NIC's port while it runs, in NIC order (beside portIds). */
  portSwitches: Switch[] = [];
  memoryMiB: number | undefined;
  setup: string[] = [];

  constructor(
    readonly name: string,
    readonly order: number,
    public nics: LabNicSpec[],
    public hostname: string,
  ) {}

  /** The first NIC address without the prefix length (what other guests' /etc/hosts say). */
  get address(): string | undefined {
    const ip = this.nics.find((nic) => nic.ip && nic.ip !== '-')?.ip;
    return ip ? ip.split('/')[0] : undefined;
  }
}

export class Lab {
  /** The first (default) switch; addSwitch adds more. */
  readonly switch: Switch;
  /** The default stack's extensions (undefined when a switch was passed in). */
  readonly capture: PcapngCapture | undefined;
  readonly acl: AclFilter | undefined;
  readonly forwarder: MacLearningForwarder | undefined;
  readonly events = new Emitter<LabEvents>();
  private readonly vmMap = new Map<string, LabVm>();
  /** Every lab switch by name, with the records of its VM ports (port ids are per switch). */
  private readonly switchMap = new Map<string, { sw: Switch; records: LabPortRecords }>();
  private readonly launch: LaunchGuest;
  private readonly template: boolean;
  private readonly thread: VmThreadPlacement;
  private readonly connectTimeoutMs: number;
  private readonly execTimeoutMs: number;
  /** NICs join the switch one at a time, so a vetoed PORT_CREATE (no port yet) can still be labelled. */
  private attachLock: Promise<unknown> = Promise.resolve();
  private attaching: { vm: string; index: number; model: NicModel } | undefined;
  private readonly offSwitch: (() => void)[] = [];
  private closed = false;
  private closing: Promise<void> | undefined;
  readonly labId: string;
  /** The external port and its uplink (attachUplink), if any. */
  private readonly uplinks = new LabUplinks();

  constructor(options: LabOptions = {}) {
    if (options.switch) {
      this.switch = options.switch;
    } else {
      this.capture = options.capture ?? new PcapngCapture({ enabled: false });
      this.acl = new AclFilter();
      this.forwarder = new MacLearningForwarder();
      this.switch = new Switch({ name: options.name ?? 'lab', extensions: [this.capture, this.acl, this.forwarder] });
    }
    this.launch = options.launch ?? launchVirtualMachine;
    this.template = options.template ?? true;
    this.thread = options.thread ?? 'worker';
    this.connectTimeoutMs = options.connectTimeoutMs ?? 30_000;
    this.execTimeoutMs = options.execTimeoutMs ?? 60_000;
    this.labId = options.labId ?? randomLabId();
    this.uplinks.vmMtu = options.vmMtu;
    this.addSwitch(this.switch);
  }

  /** Adds a switch VM NICs can join (LabNicSpec.switch names it); its extensions stay as they are. */
  addSwitch(sw: Switch): void {
    if (this.switchMap.has(sw.name)) throw new LabError('switch-exists', `the lab already has a switch named '${sw.name}'`);
    const records = new LabPortRecords(sw);
    this.switchMap.set(sw.name, { sw, records });
    this.offSwitch.push(sw.on('oid', (event) => this.onOid(sw, records, event)));
    this.offSwitch.push(sw.on('state', (event) => records.onState(event)));
  }

  /** The lab's switches, the first one first. */
  switches(): Switch[] {
    return [...this.switchMap.values()].map((entry) => entry.sw);
  }

  switchNamed(name: string): Switch | undefined {
    return this.switchMap.get(name)?.sw;
  }

  private records(sw: Switch): LabPortRecords {
    return this.switchMap.get(sw.name)!.records;
  }

  private switchFor(vm: string, nic: LabNicSpec): Switch {
    if (nic.switch === undefined) return this.switch;
    const sw = this.switchMap.get(nic.switch)?.sw;
    if (!sw) throw new LabError('no-switch', `VM '${vm}': no switch named '${nic.switch}' in the lab`);
    return sw;
  }

  on<K extends keyof LabEvents>(name: K, listener: (event: LabEvents[K]) => void): () => void {
    return this.events.on(name, listener);
  }

  /** Declares a VM without starting it (its name resolves in guests started from now on). */
  define(name: string, options: LabVmOptions): LabVm {
    if (!/^[a-z][a-z0-9-]{0,30}$/.test(name)) throw new LabError('bad-name', `VM name '${name}' must be lower-case letters, digits and '-', starting with a letter`);
    if (!Array.isArray(options?.nics)) throw new TypeError(`VM '${name}': nics must be a list of NIC models or specs`);
    const existing = this.vmMap.get(name);
    if (existing && existing.state !== 'defined' && existing.state !== 'stopped' && existing.state !== 'failed') {
      throw new LabError('vm-state', `VM '${name}' is ${existing.state}; stop it before redefining it`);
    }
    const order = existing?.order ?? this.vmMap.size + 1;
    const nics = options.nics.map((nic, index): LabNicSpec => {
      const spec = typeof nic === 'string' ? { model: nic } : { ...nic };
      if (!NIC_MODELS.includes(spec.model)) throw new LabError('unknown-model', `VM '${name}': unknown NIC model '${String(spec.model)}' (expected ${NIC_MODELS.join(' or ')})`);
      if (spec.ip === undefined && index === 0) spec.ip = `10.0.0.${order}/24`;
      this.switchFor(name, spec);
      return spec;
    });
    const vm = existing ?? new LabVm(name, order, nics, options.hostname ?? name);
    vm.nics = nics;
    vm.hostname = options.hostname ?? name;
    vm.memoryMiB = options.memoryMiB;
    vm.setup = [...(options.setup ?? [])];
    vm.template = options.template;
    this.vmMap.set(name, vm);
    return vm;
  }

  vm(name: string): LabVm | undefined {
    return this.vmMap.get(name);
  }

  vms(): LabVm[] {
    return [...this.vmMap.values()];
  }

  /** Every VM's name -> eth0 address. */
  hosts(): Record<string, string> {
    const hosts: Record<string, string> = {};
    for (const vm of this.vmMap.values()) if (vm.address) hosts[vm.name] = vm.address;
    return hosts;
  }

  /**
   * Starts a VM (defining it first when options are given): the guest boots or
   * is restored from its template, then each NIC joins the switch: PORT_CREATE,
   * NIC_CREATE, NIC_CONNECT once the guest's driver is bound. Resolves when every
   * NIC is connected. A veto rejects with a NicAttachError naming the extension,
   * and the VM is stopped with no port left behind.
   */
  async start(name: string, options?: LabVmOptions): Promise<LabVm> {
    if (this.closed) throw new LabError('closed', 'the lab is closed');
    const vm = options ? this.define(name, options) : this.vmMap.get(name);
    if (!vm) throw new LabError('no-vm', `no VM named '${name}' (define it first)`);
    const run = vm.busy.then(() => this.doStart(vm));
    vm.busy = run.catch(() => undefined);
    await run;
    return vm;
  }

  private async doStart(vm: LabVm): Promise<void> {
    if (vm.state === 'running') return;
    this.setState(vm, 'starting');
    vm.poweredOff = false;
    let guest: LabGuest | undefined;
    const attachments: SwitchPortAttachment[] = [];
    try {
      const hosts = this.hosts();
      guest = await this.launch({
        name: vm.name,
        nics: vm.nics.map((nic) => ({ model: nic.model, ...(nic.mac !== undefined ? { mac: nic.mac } : {}) })),
        hostname: vm.hostname,
        ...(vm.memoryMiB !== undefined ? { memoryMiB: vm.memoryMiB } : {}),
        ip: vm.nics.map((nic) => nic.ip ?? '-'),
        hosts,
        template: vm.template ?? this.template,
        labId: this.labId,
        thread: this.thread,
        log: (message) => this.progress(message, vm.name),
      });
      const mtuSet = await this.uplinks.personalise(vm.name, guest, vm.nics.map((nic) => this.switchFor(vm.name, nic)));
      vm.guest = guest;
      vm.hostsGiven = hostsKey(hosts);
      if (guest.nics.length !== vm.nics.length) throw new LabError('nic-count', `${vm.name}: the guest has ${guest.nics.length} NICs, not ${vm.nics.length}`);
      this.watchNicFaults(vm, guest);
      await this.attachAll(vm, guest, attachments);
      vm.portIds = attachments.map((a) => a.portId);
      vm.portSwitches = vm.nics.map((nic) => this.switchFor(vm.name, nic));
      vm.starts++;
      this.watchPowerOff(vm, guest);
      await this.waitConnected(vm);
      if (mtuSet) await this.syncLinkSettings(vm).catch(() => undefined);
      await this.runSetup(vm, guest);
      this.setState(vm, 'running');
    } catch (error) {
      for (const attachment of attachments.reverse()) await attachment.detach().catch(() => undefined);
      vm.portIds = [];
      vm.portSwitches = [];
      vm.offConsole?.();
      for (const off of vm.offNicFaults.splice(0)) off();
      await guest?.stop().catch(() => undefined);
      vm.guest = undefined;
      this.setState(vm, 'failed', (error as Error).message);
      throw error;
    }
    await this.shareHosts();
  }

  private async attachAll(vm: LabVm, guest: LabGuest, attachments: SwitchPortAttachment[]): Promise<void> {
    const previous = this.attachLock;
    let release!: () => void;
    this.attachLock = new Promise<void>((resolve) => (release = resolve));
    await previous;
    try {
      for (const [index, nic] of guest.nics.entries()) {
        const spec = vm.nics[index]!;
        this.attaching = { vm: vm.name, index, model: nic.model };
        const properties = [...(spec.vlan ? [spec.vlan] : []), ...(spec.properties ?? [])];
        const sw = this.switchFor(vm.name, spec);
        const attachment = await SwitchPortAttachment.attach(sw, nic, { vmName: vm.name, index }, { properties });
        attachments.push(attachment);
        const record = this.records(sw).get(attachment.portId);
        if (record) record.attachment = attachment;
      }
    } finally {
      this.attaching = undefined;
      release();
    }
  }

  private waitConnected(vm: LabVm): Promise<void> {
    const pending = () => vm.portIds.flatMap((portId, i) => (vm.portSwitches[i]!.nic(portId, 0)?.state !== 'connected' ? [i] : []));
    if (!pending().length) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        for (const off of offs) off();
        resolve();
      };
      const offs = [...new Set(vm.portSwitches)].map((sw) =>
        sw.on('state', () => {
          if (!pending().length) done();
        }),
      );
      const timer = setTimeout(() => {
        // Not an error: the NIC connects whenever the guest's driver binds it (e.g. after `ip link set up`).
        this.progress(`${pending().map((i) => this.records(vm.portSwitches[i]!).describe(vm.portIds[i]!)).join(', ')}: the guest's driver has not bound the adapter yet (no NIC_CONNECT)`, vm.name);
        done();
      }, this.connectTimeoutMs);
    });
  }

  /** The VM's set-up commands, one exec for all (every exec is a round trip over the serial console). */
  private async runSetup(vm: LabVm, guest: LabGuest): Promise<void> {
    if (!vm.setup.length) return;
    const script = vm.setup.join(' && ');
    const result = await guest.exec(script, { timeoutMs: this.execTimeoutMs });
    if (result.exitCode !== 0) throw new LabError('setup-failed', `${vm.name}: set-up failed (exit status ${result.exitCode}): ${result.output.trim().split('\n').slice(-3).join(' / ')}`);
  }

  private watchPowerOff(vm: LabVm, guest: LabGuest): void {
    const watch = new GuestEndWatch();
    vm.offConsole?.();
    const ended = (reason: string): void => {
      if (vm.poweredOff || vm.guest !== guest) return;
      vm.poweredOff = true;
      // The guest's poweroff (or halt, or reboot, which the runtime also ends): the same stop lifecycle as a stop from the host.
      void this.stop(vm.name, `guest ${reason}`).catch(() => undefined);
    };
    // The console line comes first (the runtime stops the VM a moment later): disconnecting now spares frames to a dying NIC.
    vm.offConsole = guest.console.onData((bytes) => {
      const end = watch.feed(bytes);
      if (end) ended(end);
    });
    void guest.ended?.then((end) => {
      if (end.reason === 'failed') {
        // Its thread died (a fault domain): only this VM ends; its ports run the same stop lifecycle.
        if (vm.guest !== guest || vm.poweredOff) return;
        vm.poweredOff = true;
        const detail = end.detail ?? 'the VM failed';
        this.progress(`the VM failed: ${detail}`, vm.name);
        void this.queueStop(vm, detail, 'failed').catch(() => undefined);
      } else if (end.reason !== 'stopped') ended(end.reason);
    });
  }

  /** A NIC's 'failed' event becomes a lab 'fault' event; its attachment stops the port by itself. */
  private watchNicFaults(vm: LabVm, guest: LabGuest): void {
    for (const off of vm.offNicFaults.splice(0)) off();
    guest.nics.forEach((nic, index) => {
      vm.offNicFaults.push(
        nic.onDriverEvent((event) => {
          if (event.type !== 'failed' || vm.guest !== guest) return;
          const portId = vm.portIds[index];
          const sw = vm.portSwitches[index];
          const fault: LabFaultEvent = {
            time: this.switch.now(),
            vm: vm.name,
            nic: `eth${index}`,
            model: nic.model,
            ...(portId !== undefined ? { portId } : {}),
            message: `${event.error.name}: ${event.error.message}`,
          };
          vm.faults.push(fault);
          const record = portId !== undefined && sw ? this.records(sw).get(portId) : undefined;
          if (record) record.fault = fault.message;
          this.events.emit('fault', fault);
          this.progress(`eth${index} (${nic.model}) failed and is out of service; its port is stopped, the VM keeps running: ${fault.message}`, vm.name);
        }),
      );
    });
  }

  /** Guests started before a VM was defined learn its name. */
  private async shareHosts(): Promise<void> {
    const hosts = this.hosts();
    const key = hostsKey(hosts);
    const list = Object.entries(hosts).map(([name, address]) => `${name}=${address}`).join(',');
    for (const vm of this.vmMap.values()) {
      if (vm.state !== 'running' || !vm.guest || vm.hostsGiven === key || !list) continue;
      const result = await vm.guest.exec(`/sbin/vmswitch-config hosts=${list}`, { timeoutMs: 20_000 }).catch((error: Error) => ({ output: error.message, exitCode: -1 }));
      if (result.exitCode === 0) vm.hostsGiven = key;
      else this.progress(`could not update /etc/hosts: ${result.output.trim()}`, vm.name);
    }
  }

  /**
   * Runs a command in a VM's shell. After a command that may have changed a
   * link setting (it mentions ip, ifconfig, mtu, a MAC address, a driver
   * module or runs a script), the lab reads each NIC's MTU and MAC from the
   * guest's sysfs and reports changes as NIC_UPDATED (link-settings.ts says
   * why the guest is asked). Not after every command: the read is one more
   * exec over the serial console. `syncLinkSettings` does it on demand.
   */
  async exec(name: string, command: string, opts: { timeoutMs?: number; syncLinkSettings?: boolean } = {}): Promise<GuestExecResult> {
    const vm = this.running(name);
    const result = await vm.guest!.exec(command, { timeoutMs: opts.timeoutMs ?? this.execTimeoutMs });
    const sync = opts.syncLinkSettings ?? mayChangeLinkSettings(command);
    if (sync && vm.state === 'running' && !vm.poweredOff) await this.syncLinkSettings(vm).catch(() => undefined);
    return result;
  }

  /** NIC_UPDATED for every MTU or MAC the guest changed that the switch does not know yet. */
  async syncLinkSettings(name: string | LabVm): Promise<void> {
    const vm = typeof name === 'string' ? this.running(name) : name;
    if (vm.guest) await syncLinkSettings(vm.portSwitches, vm.guest, vm.portIds);
  }

  /** The seed's stop lifecycle for each NIC (NIC_DISCONNECT, drain, NIC_DELETE, PORT_TEARDOWN, PORT_DELETE), then the VM stops. */
  async stop(name: string, reason = 'host'): Promise<void> {
    const vm = this.vmMap.get(name);
    if (!vm) throw new LabError('no-vm', `no VM named '${name}'`);
    await this.queueStop(vm, reason, 'stopped');
  }

  private async queueStop(vm: LabVm, reason: string, final: 'stopped' | 'failed'): Promise<void> {
    const run = vm.busy.then(() => this.doStop(vm, reason, final));
    vm.busy = run.catch(() => undefined);
    await run;
  }

  private async doStop(vm: LabVm, reason: string, final: 'stopped' | 'failed'): Promise<void> {
    if (vm.state !== 'running' && vm.state !== 'starting') return;
    this.setState(vm, 'stopping', reason);
    vm.offConsole?.();
    vm.offConsole = undefined;
    for (const off of vm.offNicFaults.splice(0)) off();
    for (const [i, portId] of vm.portIds.entries()) {
      const attachment = this.records(vm.portSwitches[i]!).get(portId)?.attachment;
      if (attachment) await attachment.detach();
    }
    vm.portIds = [];
    vm.portSwitches = [];
    await vm.guest?.stop();
    vm.guest = undefined;
    this.setState(vm, final, reason);
  }

  /**
   * Gives the switch its external port with `uplink` behind it (uplinks.ts):
   * PORT_CREATE and NIC_CREATE now, NIC_CONNECT while the uplink is up. VMs
   * started from now on get the uplink's MTU unless `vmMtu` says otherwise.
   * close() detaches the port and closes the uplink.
   */
  attachUplink(uplink: Uplink, options?: ExternalPortOptions & { switch?: string }): Promise<ExternalPort> {
    if (this.closed) return Promise.reject(new LabError('closed', 'the lab is closed'));
    const sw = options?.switch === undefined ? this.switch : this.switchMap.get(options.switch)?.sw;
    if (!sw) return Promise.reject(new LabError('no-switch', `no switch named '${options?.switch}' in the lab`));
    const { switch: _switch, ...portOptions } = options ?? {};
    return this.uplinks.attach(sw, uplink, portOptions);
  }

  /** The first switch's external port, if attachUplink gave it one. */
  get externalPort(): ExternalPort | undefined {
    return this.uplinks.port(this.switch);
  }

  /** A switch's external port (by name), if it has one. */
  externalPortOf(switchName: string): ExternalPort | undefined {
    const sw = this.switchMap.get(switchName)?.sw;
    return sw ? this.uplinks.port(sw) : undefined;
  }

  /** Per-port counters of every port a lab VM had, in port id order (switch by switch when there are several, each row naming its switch). */
  ports(): LabPortRow[] {
    if (this.switchMap.size === 1) return this.records(this.switch).rows();
    return [...this.switchMap.values()].flatMap(({ sw, records }) => records.rows().map((row) => ({ ...row, switch: sw.name })));
  }

  /** Stops every running VM (in parallel) and detaches from the switch's events. */
  close(): Promise<void> {
    // A second call (e.g. Ctrl-C while closing) waits for the same work.
    this.closing ??= (async () => {
      this.closed = true;
      await Promise.all([...this.vmMap.values()].map((vm) => this.stop(vm.name, 'lab closed').catch(() => undefined)));
      await this.uplinks.close();
      for (const off of this.offSwitch.splice(0)) off();
    })();
    return this.closing;
  }

  private running(name: string): LabVm {
    const vm = this.vmMap.get(name);
    if (!vm) throw new LabError('no-vm', `no VM named '${name}'`);
    if (vm.state !== 'running' || !vm.guest) throw new LabError('vm-state', `VM '${name}' is ${vm.state}, not running`);
    return vm;
  }

  private setState(vm: LabVm, state: LabVmState, detail?: string): void {
    vm.state = state;
    this.events.emit('vm', { time: this.switch.now(), vm: vm.name, state, ...(detail !== undefined ? { detail } : {}) });
  }

  private progress(message: string, vm?: string): void {
    this.events.emit('progress', { time: this.switch.now(), ...(vm !== undefined ? { vm } : {}), message });
  }

  private onOid(sw: Switch, records: LabPortRecords, event: OidEvent): void {
    let record = records.get(event.portId);
    if (!record && event.oid === 'OID_SWITCH_PORT_CREATE') {
      // Ports this lab's VMs make are named "vm/ethN" (host/attach.ts); others (made directly on the switch) are not labelled.
      const match = /^([a-z][a-z0-9-]*)\/eth([0-9]+)$/.exec(sw.port(event.portId)?.name ?? '');
      const owner = match && this.vmMap.has(match[1]!) ? { vm: match[1]!, index: Number(match[2]) } : event.status !== 'success' ? this.attaching : undefined;
      if (owner) {
        const vm = this.vmMap.get(owner.vm)!;
        const model = vm.nics[owner.index]?.model ?? 'e1000';
        const guestNic = vm.guest?.nics[owner.index];
        const labelled: LabOidEvent = { ...event, vm: owner.vm, nic: `eth${owner.index}`, model };
        if (event.status === 'success') {
          record = records.open(event.portId, { vm: owner.vm, index: owner.index, model, mac: guestNic ? formatMac(guestNic.mac) : '' });
        } else {
          this.events.emit('oid', { ...labelled, ...this.switchLabel(sw) });
          return;
        }
      }
    }
    if (!record && this.attaching && event.status !== 'success' && event.oid === 'OID_SWITCH_NIC_CREATE') {
      // Unreachable in practice (the port record exists); kept so a veto is never unlabelled.
      this.events.emit('oid', { ...event, vm: this.attaching.vm, nic: `eth${this.attaching.index}`, model: this.attaching.model, ...this.switchLabel(sw) });
      return;
    }
    this.events.emit('oid', record ? { ...event, vm: record.vm, nic: `eth${record.index}`, model: record.model, ...this.switchLabel(sw) } : { ...event, ...this.switchLabel(sw) });
  }

  /** Events name their switch once the lab has more than one. */
  private switchLabel(sw: Switch): { switch?: string } {
    return this.switchMap.size > 1 ? { switch: sw.name } : {};
  }
}

function hostsKey(hosts: Record<string, string>): string {
  return Object.entries(hosts)
    .map(([name, address]) => `${name}=${address}`)
    .join(',');
}
