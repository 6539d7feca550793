// A lab file's plan run as a Lab: one Switch per PlanSwitch with its
// extension stack, the links between them (links.ts), every VM defined with
// its NICs on their switches and its personalisation (guest-setup.ts).
//
//   const topo = await LabTopology.create(parseLabFile(text), { openCapture });
//   await topo.start();                       // every VM, in parallel
//   await topo.runCommands();                 // each VM's `commands`, once
//   await topo.lab.exec('a', 'traceroute -n b');
//   topo.setImpairment({ link: 'wan' }, { send: {...}, receive: null });
//   await topo.close();
//
// Settings that name ports (ACL `from`, mirror sessions, capture `ports`)
// are bound to port ids when the ports exist: ACL rules and mirror sessions
// are rebound whenever a VM starts or stops (a restart is a new port);
// capture extensions with a port list join their switch once the lab is up
// (PcapngCapture takes its ports at construction), so a VM restarted later is
// not in them.
import type { Extension } from '../extension.ts';
import type { Scheduler } from '../clock.ts';
import { Switch } from '../switch.ts';
import { AclFilter, type AclRule } from '../extensions/acl.ts';
import { MacLearningForwarder } from '../extensions/mac-learning.ts';
import { PortMirror, type MirrorSession } from '../extensions/mirror.ts';
import { PcapngCapture, type CaptureOptions } from '../extensions/capture/capture.ts';
import { DhcpServerExtension } from '../extensions/dhcp-server.ts';
import { DhcpGuard, RouterGuard, allowDhcpServerProperty, allowRouterProperty } from '../extensions/guards.ts';
import type { PortProperty } from '../port.ts';
import { dhcpServerOptions } from './file/dhcp.ts';
import { Lab, type LabOptions } from './lab.ts';
import { LabError } from './errors.ts';
import { LabLink } from './links.ts';
import { launchAddress, setupCommands } from './guest-setup.ts';
import { labImpairer } from './impairer.ts';
import type { Impairment, LabPlan, NicImpairment, PlanCapture, PlanSwitch, PortRef } from './file/schema.ts';
import type { GuestExecResult } from './guest.ts';
import type { PlanUplink } from './file/uplinks.ts';
import type { Uplink } from '../uplink/uplink.ts';

/** A capture that writes somewhere (a file: host/extensions/capture/file.ts captureToFile, Node only). */
export interface OpenedCapture {
  capture: PcapngCapture;
  close(): void;
}

/** Sets a port's impairment per direction (the impairment extension of a switch). */
export interface PortImpairer {
  readonly extension: Extension;
  set(portId: number, impairment: { send?: Impairment | null; receive?: Impairment | null }): void;
}

export interface LabTopologyOptions extends Omit<LabOptions, 'switch' | 'capture' | 'name'> {
  /** Opens a capture file named in the lab file (relative to it); without it such captures stay in memory. */
  openCapture?: (file: string, options: Omit<CaptureOptions, 'write'>) => OpenedCapture;
  /** Makes a switch's impairment extension (default: impairer.ts's); null: none, and impairments in the file are reported, not applied. */
  impairer?: ((sw: Switch) => PortImpairer) | null;
  /** How many VMs start at once (default 2). */
  startConcurrency?: number;
  /** Every switch's clock and timers (tests: a FakeClock, clock.ts). Default: Date.now and setTimeout. */
  timers?: Scheduler;
  /**
   * Opens the transport of a switch's lab-file uplink (VXLAN needs UDP
   * sockets: the CLI passes one on Node). Without it a file with uplinks is
   * refused rather than run without them.
   */
  openUplink?: (switchName: string, uplink: PlanUplink) => Promise<Uplink>;
}

/** What a switch of the plan runs with. */
export interface TopologySwitch {
  readonly plan: PlanSwitch;
  readonly switch: Switch;
  readonly forwarder: MacLearningForwarder;
  readonly acl: AclFilter | undefined;
  readonly mirror: PortMirror | undefined;
  capture: PcapngCapture | undefined;
  readonly impairer: PortImpairer | undefined;
  readonly dhcpServer: DhcpServerExtension | undefined;
  readonly dhcpGuard: DhcpGuard | undefined;
  readonly routerGuard: RouterGuard | undefined;
}

/** A target of setImpairment: a VM's NIC or a link. */
export type ImpairmentTarget = { vm: string; nic: string } | { link: string };

/** A link's impairment by direction: the switch that sends over it -> what it suffers. */
export type LinkImpairment = Record<string, Impairment | null>;

export interface CommandResult extends GuestExecResult {
  vm: string;
  command: string;
}

export class LabTopology {
  readonly switches = new Map<string, TopologySwitch>();
  readonly links = new Map<string, LabLink>();
  private readonly captures: OpenedCapture[] = [];
  private readonly pendingCaptures: { sw: TopologySwitch; capture: PlanCapture }[] = [];
  private offVm: (() => void) | undefined;
  private closing: Promise<void> | undefined;

  private constructor(
    readonly plan: LabPlan,
    readonly lab: Lab,
    private readonly options: LabTopologyOptions,
  ) {}

  /** Builds the switches and links and defines the VMs (none started). */
  static async create(plan: LabPlan, options: LabTopologyOptions = {}): Promise<LabTopology> {
    if (!plan.switches.length) throw new LabError('no-switch', 'the lab has no switches');
    const stacks = plan.switches.map((ps) => buildSwitch(ps, options));
    const { openCapture: _o, impairer: _i, timers: _t, startConcurrency: _s, openUplink, ...labOptions } = options;
    const withUplinks = plan.switches.filter((ps) => ps.uplinks.length);
    if (withUplinks.length && !openUplink) {
      throw new LabError('uplink-unavailable', `switch ${withUplinks[0]!.name} has an uplink, and this host cannot open one (VXLAN needs Node's UDP sockets)`);
    }
    const lab = new Lab({ ...labOptions, switch: stacks[0]!.switch });
    const topo = new LabTopology(plan, lab, options);
    for (const [index, stack] of stacks.entries()) {
      topo.switches.set(stack.plan.name, stack);
      if (index > 0) lab.addSwitch(stack.switch);
      if (stack.plan.capture) topo.openSwitchCapture(stack, stack.plan.capture);
    }
    try {
      for (const link of plan.links) {
        const [a, b] = link.ends.map((end) => topo.switches.get(end.switch)?.switch);
        if (!a || !b) throw new LabError('no-switch', `link ${link.name}: no switch ${a ? link.ends[1].switch : link.ends[0].switch}`);
        topo.links.set(link.name, await LabLink.connect(link.name, a, b, { trunk: link.trunk }));
      }
      // Before the VMs are defined: they take their MTU from their switch's uplink when they start.
      for (const ps of withUplinks) {
        const uplink = await openUplink!(ps.name, ps.uplinks[0]!);
        await lab.attachUplink(uplink, { switch: ps.name }).catch(async (error: unknown) => {
          await uplink.close();
          throw error;
        });
      }
      for (const vm of plan.vms) {
        lab.define(vm.name, {
          hostname: vm.hostname,
          memoryMiB: vm.memoryMiB,
          nics: vm.nics.map((nic) => ({
            model: nic.model,
            switch: nic.switch,
            ip: nic.dhcp ? '-' : launchAddress(nic.addresses),
            ...(nic.mac !== null ? { mac: nic.mac } : {}),
            ...(nic.vlan ? { vlan: nic.vlan } : {}),
            ...(nic.allow?.length ? { properties: guardExceptions(nic.allow) } : {}),
          })),
          setup: setupCommands(vm),
        });
      }
    } catch (error) {
      await topo.close();
      throw error;
    }
    topo.applyLinkImpairments();
    topo.bindPorts();
    topo.offVm = lab.on('vm', (event) => {
      if (event.state === 'running') topo.applyNicImpairments(event.vm);
      if (event.state === 'running' || event.state === 'stopped') topo.bindPorts();
    });
    return topo;
  }

  /**
   * Starts every VM, `startConcurrency` at a time (default 2: restoring a
   * template is CPU-bound, and more at once on a small machine only makes
   * each slower and its boot-time commands time out). NICs join one at a time.
   */
  async start(): Promise<void> {
    const queue = this.plan.vms.map((vm) => vm.name);
    const failures: unknown[] = [];
    const worker = async (): Promise<void> => {
      for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
        if (failures.length) return;
        await this.lab.start(name).catch((error: unknown) => void failures.push(error));
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, this.options.startConcurrency ?? 2) }, worker));
    if (failures.length) throw failures[0];
    for (const { sw, capture } of this.pendingCaptures.splice(0)) this.addPortCapture(sw, capture);
    this.bindPorts();
  }

  /** Each VM's lab-file `commands`, in order per VM, VMs side by side; stops a VM's list at its first failure. */
  async runCommands(opts: { timeoutMs?: number; onResult?: (result: CommandResult) => void } = {}): Promise<CommandResult[]> {
    const all: CommandResult[] = [];
    await Promise.all(
      this.plan.vms.map(async (vm) => {
        for (const command of vm.commands) {
          const result = await this.lab.exec(vm.name, command, opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {});
          const entry = { vm: vm.name, command, ...result };
          all.push(entry);
          opts.onResult?.(entry);
          if (result.exitCode !== 0) break;
        }
      }),
    );
    return all;
  }

  /**
   * Changes an impairment while the lab runs. A NIC: `send` (VM -> switch)
   * and `receive` (switch -> VM); a link: by the name of the switch that
   * sends over it. null clears a direction.
   */
  setImpairment(target: ImpairmentTarget, impairment: Partial<NicImpairment> | LinkImpairment): void {
    if ('link' in target) {
      const link = this.links.get(target.link);
      const planLink = this.plan.links.find((l) => l.name === target.link);
      if (!link || !planLink) throw new LabError('no-link', `no link named '${target.link}'`);
      for (const [from, value] of Object.entries(impairment as LinkImpairment)) {
        const end = planLink.ends.find((e) => e.switch === from);
        if (!end) throw new LabError('no-switch', `link ${target.link} has no end on switch '${from}'`);
        end.send = value;
      }
      this.applyLinkImpairments(target.link);
      return;
    }
    const vm = this.plan.vms.find((v) => v.name === target.vm);
    const nic = vm?.nics.find((n) => n.name === target.nic);
    if (!vm || !nic) throw new LabError('no-vm', `no NIC ${target.vm}.${target.nic} in the lab`);
    const value = impairment as Partial<NicImpairment>;
    if (value.send !== undefined) nic.impairment.send = value.send;
    if (value.receive !== undefined) nic.impairment.receive = value.receive;
    this.applyNicImpairments(vm.name);
  }

  /** Stops the VMs, unplugs the links, closes capture files. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.offVm?.();
      await this.lab.close();
      for (const link of this.links.values()) await link.close();
      for (const capture of this.captures.splice(0)) capture.close();
    })();
    return this.closing;
  }

  /** A NIC or link end's current port: [switch, port id], or undefined while it has none. */
  portOf(ref: PortRef, sw: Switch): number | undefined {
    if (ref.kind === 'link') return this.links.get(ref.link)?.endOn(sw)?.portId;
    const vm = this.lab.vm(ref.vm);
    const index = Number(ref.nic.slice(3));
    if (!vm || vm.portSwitches[index] !== sw) return undefined;
    return vm.portIds[index];
  }

  private portIds(refs: readonly PortRef[], sw: Switch): number[] {
    return refs.flatMap((ref) => {
      const id = this.portOf(ref, sw);
      return id === undefined ? [] : [id];
    });
  }

  /** ACL rules and mirror sessions name ports; their ids change when a VM restarts. */
  private bindPorts(): void {
    for (const stack of this.switches.values()) {
      const { plan, switch: sw } = stack;
      if (stack.acl && plan.acl) {
        const rules = plan.acl.rules.map(({ from, ...rule }): AclRule => (from ? { ...rule, sourcePorts: this.portIds(from, sw) } : rule));
        stack.acl.setRules(rules, plan.acl.defaultAction);
      }
      if (stack.mirror) {
        const sessions: MirrorSession[] = [];
        for (const session of plan.mirror) {
          const to = this.portOf(session.to, sw);
          if (to === undefined) continue;
          sessions.push({
            name: session.name,
            sourcePorts: this.portIds(session.from, sw),
            destinationPorts: this.portIds(session.toward, sw),
            vlans: [...session.vlans],
            to: { portId: to, nicIndex: 0 },
          });
        }
        stack.mirror.setSessions(sessions);
      }
    }
  }

  private openSwitchCapture(stack: TopologySwitch, plan: PlanCapture): void {
    if (plan.ports !== null) {
      this.pendingCaptures.push({ sw: stack, capture: plan });
      return;
    }
    const capture = this.makeCapture(stack, plan, undefined);
    stack.switch.addExtension(capture);
    stack.capture = capture;
  }

  private addPortCapture(stack: TopologySwitch, plan: PlanCapture): void {
    const capture = this.makeCapture(stack, plan, this.portIds(plan.ports ?? [], stack.switch));
    stack.switch.addExtension(capture);
    stack.capture = capture;
  }

  private makeCapture(stack: TopologySwitch, plan: PlanCapture, ports: number[] | undefined): PcapngCapture {
    const options: Omit<CaptureOptions, 'write'> = {
      name: 'capture',
      direction: plan.direction,
      snapLength: plan.snapLength,
      enabled: plan.enabled,
      ...(ports ? { ports } : {}),
    };
    if (plan.file !== null && this.options.openCapture) {
      const opened = this.options.openCapture(plan.file, options);
      this.captures.push(opened);
      return opened.capture;
    }
    if (plan.file !== null) this.lab.events.emit('progress', { time: stack.switch.now(), message: `switch ${stack.plan.name}: capture kept in memory (no file opener given for ${plan.file})` });
    return new PcapngCapture(options);
  }

  private applyLinkImpairments(only?: string): void {
    for (const planLink of this.plan.links) {
      if (only !== undefined && planLink.name !== only) continue;
      const link = this.links.get(planLink.name);
      if (!link) continue;
      for (const end of planLink.ends) {
        const stack = this.switches.get(end.switch)!;
        const portId = link.endOn(stack.switch)?.portId;
        // What a switch sends over the link is what its link port receives from the switch.
        if (portId !== undefined) this.impair(stack, portId, { send: null, receive: end.send }, `link ${planLink.name}`);
      }
    }
  }

  private applyNicImpairments(vmName: string): void {
    const vm = this.plan.vms.find((v) => v.name === vmName);
    const labVm = this.lab.vm(vmName);
    if (!vm || !labVm) return;
    for (const [index, nic] of vm.nics.entries()) {
      const portId = labVm.portIds[index];
      const stack = this.switches.get(nic.switch);
      if (portId === undefined || !stack) continue;
      this.impair(stack, portId, nic.impairment, `${vmName}.${nic.name}`);
    }
  }

  private impair(stack: TopologySwitch, portId: number, impairment: NicImpairment, what: string): void {
    if (stack.impairer) {
      stack.impairer.set(portId, impairment);
      return;
    }
    if (impairment.send || impairment.receive) {
      this.lab.events.emit('progress', { time: stack.switch.now(), message: `${what}: impairment not applied (switch ${stack.plan.name} has no impairment extension)` });
    }
  }
}

function guardExceptions(allow: readonly ('dhcp-server' | 'router')[]): PortProperty[] {
  return allow.map((what) => (what === 'dhcp-server' ? allowDhcpServerProperty() : allowRouterProperty()));
}

function buildSwitch(plan: PlanSwitch, options: LabTopologyOptions): TopologySwitch {
  const forwarder = new MacLearningForwarder({ ...plan.macLearning });
  const acl = plan.acl ? new AclFilter({ defaultAction: plan.acl.defaultAction }) : undefined;
  const mirror = plan.mirror.length ? new PortMirror() : undefined;
  const dhcpServer = plan.dhcp ? new DhcpServerExtension(dhcpServerOptions(plan.dhcp)) : undefined;
  // The guards first among the filters: a rogue server's offer is dropped before anything else sees it.
  const dhcpGuard = plan.guards?.dhcp ? new DhcpGuard() : undefined;
  const routerGuard = plan.guards?.router ? new RouterGuard() : undefined;
  const extensions: Extension[] = [
    ...(dhcpGuard ? [dhcpGuard] : []),
    ...(routerGuard ? [routerGuard] : []),
    forwarder,
    ...(acl ? [acl] : []),
    ...(mirror ? [mirror] : []),
    ...(dhcpServer ? [dhcpServer] : []),
  ];
  const sw = new Switch({ name: plan.name, extensions, ...(options.timers ? { timers: options.timers } : {}) });
  const impairer = options.impairer === null ? undefined : (options.impairer ?? labImpairer)(sw);
  // The topmost filter: the filters below see a sent frame when it "arrives", and on egress it is the last before delivery.
  if (impairer) sw.addExtension(impairer.extension, 0);
  return { plan, switch: sw, forwarder, acl, mirror, capture: undefined, impairer, dhcpServer, dhcpGuard, routerGuard };
}
