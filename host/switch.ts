// The switch's public API: ports and NICs with their states, what each OID
// does to them, the extension stack and the data path's entry. The OID
// plumbing (one at a time per port, down the stack and back up, drain waits)
// is oid-engine.ts; what extensions get is extension-context.ts. Knows frames,
// ports and NICs, never the emulator.
import type { Frame, FrameSink } from '../emulator/net/frame.ts';
import { formatMac, sameMac } from '../emulator/net/frame.ts';
import type { GuestNic, NicAttachInfo } from '../emulator/net/nic.ts';
import { SwitchPortAttachment } from './attach.ts';
import { Emitter } from './events.ts';
import type { SwitchEvents } from './events.ts';
import type { OidName, OidRequest } from './oid.ts';
import type { PortCounters, SwitchCounters } from './counters.ts';
import { bump, copyPortCounters, copySwitchCounters, newSwitchCounters } from './counters.ts';
import type { PortInfo, PortParameters, PortProperty, PortState, PortType } from './port.ts';
import { PORT_TYPES, Port, propertyKey } from './port.ts';
import type { NicInfo, NicOptions, NicParameters, NicState, NicType } from './nic.ts';
import { DEFAULT_MTU, NIC_TYPES, Nic } from './nic.ts';
import { ExtensionStack } from './stack.ts';
import { SWITCH_DROP_REASONS } from './drop-reasons.ts';
import type { Extension, ExtensionKind, SwitchParameters } from './extension.ts';
import { DataPath } from './datapath.ts';
import { OidEngine } from './oid-engine.ts';
import { makeExtensionContext } from './extension-context.ts';
import type { ExtensionContextHost } from './extension-context.ts';
import { SwitchError, errorMessage } from './errors.ts';
import { checkMac, checkMtu } from './validate.ts';
import { VlanPolicy, vlanPropertyProblem } from './extensions/vlan.ts';
import { MacLearningForwarder } from './extensions/mac-learning.ts';
import { TimerScheduler } from './clock.ts';
import type { Scheduler } from './clock.ts';

export interface SwitchOptions {
  name?: string;
  /** Milliseconds; inject a virtual clock in tests. Default Date.now (or `timers.now` when only `timers` is given). */
  clock?: () => number;
  /** Timers on the switch's clock (clock.ts): tests pass a FakeClock (as `timers`, and it is then the clock too). Default: setTimeout on `clock`. */
  timers?: Scheduler;
  /** The stack, any order (sorted by kind). Default: a MAC-learning forwarding extension only. */
  extensions?: Extension[];
  /** How long NIC_DELETE waits for in-flight frames, OIDs and references (default 5000 ms). */
  nicDrainTimeoutMs?: number;
  /** How long PORT_DELETE waits for port OIDs and references (default 5000 ms). */
  portDrainTimeoutMs?: number;
}

export interface CreatePortOptions {
  type: PortType;
  name?: string;
  /** Default: the next free id (ids are > 0; 0 is the extensions' default port). */
  id?: number;
  /** Added one by one with PORT_PROPERTY_ADD after PORT_CREATE; a veto deletes the port again. */
  properties?: PortProperty[];
}

export interface NicUpdate {
  mac?: Uint8Array;
  mtu?: number;
  friendlyName?: string;
}

/** A port as `ports()` reports it. */
export interface PortSnapshot extends PortParameters {
  nics: NicParameters[];
  counters: PortCounters;
}

export interface SavedNic {
  /** Per extension name, what it stored at NIC_SAVE. */
  extensions: Record<string, unknown>;
}

const DEFAULT_DRAIN_TIMEOUT_MS = 5000;

export class Switch {
  readonly name: string;
  readonly events = new Emitter<SwitchEvents>();
  readonly now: () => number;
  /** Timers on `now`'s clock, for extensions that act later (also `context.timers`). */
  readonly timers: Scheduler;
  private readonly portMap = new Map<number, Port>();
  private nextPortId = 1;
  private connected: Nic[] = [];
  private readonly switchCounters: SwitchCounters = newSwitchCounters();
  private readonly stack = new ExtensionStack();
  private readonly datapath: DataPath;
  private readonly oids: OidEngine;
  private readonly contextHost: ExtensionContextHost;
  private readonly nicDrainTimeoutMs: number;
  private readonly portDrainTimeoutMs: number;
  /** Port ids reserved by a PORT_CREATE in progress. */
  private readonly creating = new Set<number>();

  constructor(options: SwitchOptions = {}) {
    this.name = options.name ?? 'switch';
    this.now = options.clock ?? (options.timers ? options.timers.now.bind(options.timers) : Date.now);
    this.timers = options.timers ?? new TimerScheduler(this.now);
    this.nicDrainTimeoutMs = options.nicDrainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
    this.portDrainTimeoutMs = options.portDrainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
    // One view of the switch for the data path, the OID engine and extension contexts: live tables, no copies.
    const host = {
      name: this.name,
      now: this.now,
      timers: this.timers,
      events: this.events,
      counters: this.switchCounters,
      stack: this.stack,
      parameters: () => this.parameters(),
      allPorts: () => this.portMap.values(),
      findPort: (portId: number) => this.portMap.get(portId),
      findNic: (portId: number, nicIndex: number) => this.portMap.get(portId)?.nics.get(nicIndex),
      connectedNics: () => this.connected,
      extensionError: (extension: Extension, phase: string, error: unknown) => this.extensionError(extension, phase, error),
    };
    this.datapath = new DataPath(host);
    this.oids = new OidEngine(host);
    this.contextHost = { ...host, datapath: this.datapath };
    for (const extension of options.extensions ?? [new MacLearningForwarder()]) this.addExtension(extension);
  }

  on<K extends keyof SwitchEvents>(name: K, listener: (event: SwitchEvents[K]) => void): () => void {
    return this.events.on(name, listener);
  }

  /**
   * Plugs a VM's NIC into a new port (this makes a Switch a NicAttacher, so
   * `VirtualMachine.start({ nics: [{ model, switch: sw }] })` works):
   * PORT_CREATE, NIC_CREATE, and NIC_CONNECT before this resolves when the
   * guest's driver is already bound (otherwise when it binds). A veto rejects
   * with a NicAttachError naming the extension and leaves no port. The
   * attachment's `detach()` runs the stop lifecycle.
   */
  async attachNic(nic: GuestNic, info: NicAttachInfo): Promise<SwitchPortAttachment> {
    const attachment = await SwitchPortAttachment.attach(this, nic, info);
    await attachment.settled();
    return attachment;
  }

  // ---- extensions -------------------------------------------------------

  /** Adds an extension at run time (position: its place among its kind, 0 = top). */
  addExtension(extension: Extension, position?: number): void {
    this.stack.add(extension, position);
    if (extension.attach) {
      try {
        extension.attach(makeExtensionContext(extension, this.contextHost));
      } catch (error) {
        this.extensionError(extension, 'attach', error);
        this.stack.remove(extension.name);
        throw new SwitchError('extension-attach', `extension ${extension.name} failed to attach: ${errorMessage(error)}`, { cause: error });
      }
    }
  }

  removeExtension(name: string): Extension {
    const extension = this.stack.remove(name);
    try {
      extension.detach?.();
    } catch (error) {
      this.extensionError(extension, 'detach', error);
    }
    return extension;
  }

  reorderExtensions(kind: 'capture' | 'filter', names: readonly string[]): void {
    this.stack.reorder(kind, names);
  }

  /** The stack, top to bottom. */
  extensions(): { name: string; kind: ExtensionKind }[] {
    return this.stack.ordered.map((e) => ({ name: e.name, kind: e.kind }));
  }

  extension(name: string): Extension | undefined {
    return this.stack.find(name);
  }

  // ---- ports --------------------------------------------------------------

  async createPort(options: CreatePortOptions): Promise<PortInfo> {
    if (!options || !PORT_TYPES.includes(options.type)) {
      throw new TypeError(`createPort: type must be one of ${PORT_TYPES.join(', ')}`);
    }
    let id = options.id;
    if (id !== undefined) {
      if (!Number.isInteger(id) || id <= 0 || id > 0x7fffffff) throw new RangeError(`createPort: port id ${id} must be an integer > 0`);
      if (this.portMap.has(id) || this.creating.has(id)) throw new SwitchError('port-exists', `createPort: port ${id} exists`);
    } else {
      while (this.portMap.has(this.nextPortId) || this.creating.has(this.nextPortId)) this.nextPortId++;
      id = this.nextPortId++;
    }
    const port = new Port(id, options.type, options.name ?? `port ${id}`);
    this.creating.add(id);
    try {
      await this.oids.serial(id, null, async () => {
        await this.oids.run({ oid: 'OID_SWITCH_PORT_CREATE', port: port.parameters() }, port.id, undefined, () => {
          this.portMap.set(port.id, port);
          this.stateEvent('port', port.id, undefined, null, 'created');
          return null;
        });
      });
    } finally {
      this.creating.delete(id);
    }
    for (const property of options.properties ?? []) {
      try {
        await this.addPortProperty(id, property);
      } catch (error) {
        await this.teardownPort(id);
        await this.deletePort(id);
        throw error;
      }
    }
    return port;
  }

  async updatePort(portId: number, update: { name?: string } = {}): Promise<void> {
    const port = this.requirePort(portId);
    await this.oids.serial(portId, null, async () => {
      this.requirePortState(port, ['created'], 'PORT_UPDATED');
      const parameters = { ...port.parameters(), ...(update.name !== undefined ? { name: update.name } : {}) };
      await this.oids.run({ oid: 'OID_SWITCH_PORT_UPDATED', port: parameters }, portId, undefined, () => {
        if (update.name !== undefined) port.name = update.name;
        return null;
      });
    });
  }

  /** PORT_TEARDOWN: the port's NICs must all be deleted. */
  async teardownPort(portId: number): Promise<void> {
    const port = this.requirePort(portId);
    await this.oids.serial(portId, null, async () => {
      this.requirePortState(port, ['created'], 'PORT_TEARDOWN');
      if (port.nics.size) throw new SwitchError('port-has-nics', `port ${portId}: delete its NICs before PORT_TEARDOWN`);
      await this.oids.run({ oid: 'OID_SWITCH_PORT_TEARDOWN', port: port.parameters() }, portId, undefined, () => {
        this.setPortState(port, 'teardown');
        return null;
      });
    });
  }

  /** PORT_DELETE, once pending port OIDs are done and no reference is held (bounded wait; a timeout is an event). */
  async deletePort(portId: number): Promise<void> {
    const port = this.requirePort(portId);
    this.requirePortState(port, ['teardown'], 'PORT_DELETE');
    await this.oids.waitDrained('port-drain', port.drained(), () => port.references, portId, undefined, this.portDrainTimeoutMs);
    await this.oids.serial(portId, null, async () => {
      this.requirePortState(port, ['teardown'], 'PORT_DELETE');
      await this.oids.run({ oid: 'OID_SWITCH_PORT_DELETE', port: port.parameters() }, portId, undefined, () => {
        this.setPortState(port, 'deleted');
        this.portMap.delete(portId);
        return null;
      });
    });
    this.oids.forgetPort(portId);
  }

  /** The VM-stop sequence: NIC_DISCONNECT, drain, NIC_DELETE for each NIC, then PORT_TEARDOWN, drain, PORT_DELETE. */
  async stopPort(portId: number): Promise<void> {
    const port = this.requirePort(portId);
    for (const nic of [...port.nics.values()]) {
      if (nic.state === 'connected') await this.disconnectNic(portId, nic.index);
      if (nic.state !== 'deleted') await this.deleteNic(portId, nic.index);
    }
    if (port.state === 'created') await this.teardownPort(portId);
    if (port.state === 'teardown') await this.deletePort(portId);
  }

  async addPortProperty(portId: number, property: PortProperty): Promise<void> {
    await this.propertyOid('OID_SWITCH_PORT_PROPERTY_ADD', portId, property);
  }

  async updatePortProperty(portId: number, property: PortProperty): Promise<void> {
    await this.propertyOid('OID_SWITCH_PORT_PROPERTY_UPDATE', portId, property);
  }

  async deletePortProperty(portId: number, property: PortProperty): Promise<void> {
    await this.propertyOid('OID_SWITCH_PORT_PROPERTY_DELETE', portId, property);
  }

  private async propertyOid(
    oid: 'OID_SWITCH_PORT_PROPERTY_ADD' | 'OID_SWITCH_PORT_PROPERTY_UPDATE' | 'OID_SWITCH_PORT_PROPERTY_DELETE',
    portId: number,
    property: PortProperty,
  ): Promise<void> {
    const port = this.requirePort(portId);
    if (!property || !['vlan', 'security', 'custom'].includes(property.type)) {
      throw new TypeError(`${oid}: property type must be vlan, security or custom`);
    }
    const key = propertyKey(property);
    await this.oids.serial(portId, null, async () => {
      this.requirePortState(port, ['created'], oid);
      const exists = port.properties.has(key);
      if (oid === 'OID_SWITCH_PORT_PROPERTY_ADD' && exists) throw new SwitchError('property-exists', `port ${portId} already has a ${key} property (update it)`);
      if (oid !== 'OID_SWITCH_PORT_PROPERTY_ADD' && !exists) throw new SwitchError('no-property', `port ${portId} has no ${key} property`);
      await this.oids.run({ oid, port: port.parameters(), property }, portId, undefined, () => {
        // The miniport edge: with no forwarding extension the switch enforces standard policy itself.
        if (oid !== 'OID_SWITCH_PORT_PROPERTY_DELETE' && property.type === 'vlan') {
          const problem = vlanPropertyProblem(property);
          if (problem) return problem;
        }
        if (oid === 'OID_SWITCH_PORT_PROPERTY_DELETE') port.properties.delete(key);
        else port.properties.set(key, property);
        if (property.type === 'vlan') {
          port.vlan = oid === 'OID_SWITCH_PORT_PROPERTY_DELETE' ? VlanPolicy.DEFAULT : VlanPolicy.from(property);
        }
        if (property.type === 'security') {
          port.allowMacSpoofing = oid === 'OID_SWITCH_PORT_PROPERTY_DELETE' ? true : property.allowMacSpoofing !== false;
        }
        return null;
      });
    });
  }

  // ---- NICs ---------------------------------------------------------------

  async createNic(portId: number, options: NicOptions): Promise<NicInfo> {
    const port = this.requirePort(portId);
    const index = options?.index ?? 0;
    if (!Number.isInteger(index) || index < 0 || index > 0xffff) throw new RangeError(`createNic: NIC index ${index} must be an integer 0..65535`);
    if (!NIC_TYPES.includes(options.type)) throw new TypeError(`createNic: type must be one of ${NIC_TYPES.join(', ')}`);
    checkMac(options.mac, 'createNic');
    const mtu = options.mtu ?? DEFAULT_MTU;
    checkMtu(mtu, 'createNic');
    if (!options.sink || typeof options.sink.deliver !== 'function') throw new TypeError('createNic: sink must have deliver(frames)');
    const nic = new Nic(port, index, options.type, { ...options, mtu }, options.sink);
    await this.oids.serial(portId, null, async () => {
      this.requirePortState(port, ['created'], 'NIC_CREATE');
      if (port.nics.has(index)) throw new SwitchError('nic-exists', `port ${portId} already has NIC ${index}`);
      if (nic.type === 'external' || nic.type === 'internal') {
        for (const p of this.portMap.values()) {
          for (const other of p.nics.values()) {
            if (other.type !== nic.type) continue;
            throw new SwitchError('nic-type-exists', `the switch already has an ${nic.type} NIC (port ${p.id} NIC ${other.index})`);
          }
        }
      }
      await this.oids.run({ oid: 'OID_SWITCH_NIC_CREATE', port: port.parameters(), nic: nic.parameters() }, portId, index, () => {
        port.nics.set(index, nic);
        this.stateEvent('nic', portId, index, null, 'created');
        return null;
      });
    });
    return nic;
  }

  /** NIC_CONNECT: the guest's stack is bound; from now on frames flow. */
  async connectNic(portId: number, nicIndex: number): Promise<void> {
    const nic = this.requireNic(portId, nicIndex);
    await this.oids.serial(portId, nic, async () => {
      this.requireNicState(nic, ['created', 'disconnected'], 'NIC_CONNECT');
      await this.oids.run(this.nicRequest('OID_SWITCH_NIC_CONNECT', nic), portId, nicIndex, () => {
        this.setNicState(nic, 'connected');
        return null;
      });
    });
  }

  /** NIC_UPDATED by the host: the MAC set here is the one port security enforces. */
  async updateNic(portId: number, nicIndex: number, update: NicUpdate): Promise<void> {
    await this.applyNicUpdate(portId, nicIndex, update, 'updateNic', null);
  }

  /**
   * A MAC the guest's driver set (e1000 RAL0/RAH0, virtio CTRL_MAC_ADDR_SET).
   * With MAC spoofing allowed (the default) it is adopted (NIC_UPDATED, true).
   * With port security on, the MAC it enforces is the host's setting, not the
   * guest's choice (as in Hyper-V): the change is refused (false, no OID) and
   * the guest's frames from the new MAC are dropped as mac-spoofing. Decided
   * in the port's OID order, after a security property change queued before.
   */
  async guestMacChange(portId: number, nicIndex: number, mac: Uint8Array): Promise<boolean> {
    return this.applyNicUpdate(portId, nicIndex, { mac }, 'guestMacChange', (nic) => nic.port.allowMacSpoofing || sameMac(mac, 0, nic.mac));
  }

  /** NIC_UPDATED unless `allowed` (asked in the port's OID order) says no; resolves whether it ran. */
  private async applyNicUpdate(portId: number, nicIndex: number, update: NicUpdate, caller: string, allowed: ((nic: Nic) => boolean) | null): Promise<boolean> {
    const nic = this.requireNic(portId, nicIndex);
    if (update.mac !== undefined) checkMac(update.mac, caller);
    if (update.mtu !== undefined) checkMtu(update.mtu, caller);
    let applied = false;
    await this.oids.serial(portId, nic, async () => {
      this.requireNicState(nic, ['created', 'connected', 'disconnected'], 'NIC_UPDATED');
      if (allowed !== null && !allowed(nic)) return;
      applied = true;
      const parameters: NicParameters = {
        ...nic.parameters(),
        ...(update.mac ? { mac: formatMac(update.mac) } : {}),
        ...(update.mtu !== undefined ? { mtu: update.mtu } : {}),
        ...(update.friendlyName !== undefined ? { friendlyName: update.friendlyName } : {}),
      };
      await this.oids.run({ oid: 'OID_SWITCH_NIC_UPDATED', port: nic.port.parameters(), nic: parameters }, portId, nicIndex, () => {
        if (update.mac) nic.mac = Uint8Array.from(update.mac.subarray(0, 6));
        if (update.mtu !== undefined) nic.mtu = update.mtu;
        if (update.friendlyName !== undefined) nic.friendlyName = update.friendlyName;
        return null;
      });
    });
    return applied;
  }

  async disconnectNic(portId: number, nicIndex: number): Promise<void> {
    const nic = this.requireNic(portId, nicIndex);
    await this.oids.serial(portId, nic, async () => {
      this.requireNicState(nic, ['connected'], 'NIC_DISCONNECT');
      await this.oids.run(this.nicRequest('OID_SWITCH_NIC_DISCONNECT', nic), portId, nicIndex, () => {
        this.setNicState(nic, 'disconnected');
        return null;
      });
    });
  }

  /**
   * NIC_DELETE, once every frame and OID on the NIC has completed and no
   * reference is held. The wait is bounded: on timeout a 'timeout' event is
   * emitted and the delete goes on (frames still held are then dropped or
   * delivered elsewhere; none reaches this NIC).
   */
  async deleteNic(portId: number, nicIndex: number): Promise<void> {
    const nic = this.requireNic(portId, nicIndex);
    this.requireNicState(nic, ['created', 'disconnected'], 'NIC_DELETE');
    await this.oids.waitDrained('nic-drain', nic.drained(), () => nic.references, portId, nicIndex, this.nicDrainTimeoutMs);
    await this.oids.serial(portId, null, async () => {
      this.requireNicState(nic, ['created', 'disconnected'], 'NIC_DELETE');
      await this.oids.run(this.nicRequest('OID_SWITCH_NIC_DELETE', nic), portId, nicIndex, () => {
        this.setNicState(nic, 'deleted');
        nic.port.nics.delete(nicIndex);
        return null;
      });
    });
  }

  /** NIC_SAVE then NIC_SAVE_COMPLETE: each extension stores its per-NIC state (for a VM snapshot). */
  async saveNic(portId: number, nicIndex: number): Promise<SavedNic> {
    const nic = this.requireNic(portId, nicIndex);
    const saved: Record<string, unknown> = {};
    await this.oids.serial(portId, nic, async () => {
      this.requireNicState(nic, ['created', 'connected', 'disconnected'], 'NIC_SAVE');
      const request: OidRequest = { oid: 'OID_SWITCH_NIC_SAVE', port: nic.port.parameters(), nic: nic.parameters(), saved };
      await this.oids.run(request, portId, nicIndex, () => null);
      await this.oids.run(this.nicRequest('OID_SWITCH_NIC_SAVE_COMPLETE', nic), portId, nicIndex, () => null);
    });
    return { extensions: JSON.parse(JSON.stringify(saved)) as Record<string, unknown> };
  }

  /** NIC_RESTORE then NIC_RESTORE_COMPLETE, on a created (not yet connected) NIC. An extension failing the restore rejects it. */
  async restoreNic(portId: number, nicIndex: number, saved: SavedNic): Promise<void> {
    const nic = this.requireNic(portId, nicIndex);
    if (!saved || typeof saved.extensions !== 'object' || saved.extensions === null) throw new TypeError('restoreNic: not a saved NIC');
    await this.oids.serial(portId, nic, async () => {
      this.requireNicState(nic, ['created'], 'NIC_RESTORE');
      const request: OidRequest = {
        oid: 'OID_SWITCH_NIC_RESTORE',
        port: nic.port.parameters(),
        nic: nic.parameters(),
        saved: saved.extensions,
      };
      await this.oids.run(request, portId, nicIndex, () => null);
      await this.oids.run(this.nicRequest('OID_SWITCH_NIC_RESTORE_COMPLETE', nic), portId, nicIndex, () => null);
    });
  }

  // ---- data path ------------------------------------------------------------

  /** Frames the guest behind (port, NIC) transmitted. Never throws for bad frames: they are dropped and counted. */
  ingress(portId: number, nicIndex: number, frames: readonly Frame[]): void {
    const nic = this.portMap.get(portId)?.nics.get(nicIndex);
    if (!nic || !Array.isArray(frames)) {
      const count = Array.isArray(frames) ? frames.length : 1;
      const reason = nic ? SWITCH_DROP_REASONS.notAFrameArray : SWITCH_DROP_REASONS.unknownNic;
      this.switchCounters.ingressFrames += count;
      this.switchCounters.droppedFrames += count;
      bump(this.switchCounters.drops, reason, count);
      this.events.emit('drop', { time: this.now(), portId, nicIndex, reason, count });
      return;
    }
    this.datapath.ingress(nic, frames);
  }

  /** A FrameSink that feeds ingress for this NIC (what a guest NIC's transmit side plugs into). */
  ingressSink(portId: number, nicIndex: number): FrameSink {
    return { deliver: (frames) => this.ingress(portId, nicIndex, frames) };
  }

  // ---- inspection -----------------------------------------------------------

  counters(): SwitchCounters;
  counters(portId: number): PortCounters;
  counters(portId?: number): SwitchCounters | PortCounters {
    if (portId === undefined) return copySwitchCounters(this.switchCounters);
    return copyPortCounters(this.requirePort(portId).counters);
  }

  ports(): PortSnapshot[] {
    return [...this.portMap.values()].map((p) => ({
      ...p.parameters(),
      nics: [...p.nics.values()].map((n) => n.parameters()),
      counters: copyPortCounters(p.counters),
    }));
  }

  port(portId: number): PortInfo | undefined {
    return this.portMap.get(portId);
  }

  nic(portId: number, nicIndex: number): NicInfo | undefined {
    return this.portMap.get(portId)?.nics.get(nicIndex);
  }

  parameters(): SwitchParameters {
    return { name: this.name, extensions: this.extensions(), ports: this.portMap.size };
  }

  // ---- internals ------------------------------------------------------------

  private nicRequest(oid: OidName, nic: Nic): OidRequest {
    return { oid, port: nic.port.parameters(), nic: nic.parameters() } as OidRequest;
  }

  private requirePort(portId: number): Port {
    const port = this.portMap.get(portId);
    if (!port) throw new SwitchError('no-port', `no port ${portId}`);
    return port;
  }

  private requireNic(portId: number, nicIndex: number): Nic {
    const nic = this.requirePort(portId).nics.get(nicIndex);
    if (!nic) throw new SwitchError('no-nic', `port ${portId} has no NIC ${nicIndex}`);
    return nic;
  }

  private requirePortState(port: Port, states: PortState[], what: string): void {
    if (!states.includes(port.state)) {
      throw new SwitchError('port-state', `${what}: port ${port.id} is ${port.state}, not ${states.join(' or ')}`);
    }
  }

  private requireNicState(nic: Nic, states: NicState[], what: string): void {
    if (!states.includes(nic.state)) {
      throw new SwitchError('nic-state', `${what}: port ${nic.port.id} NIC ${nic.index} is ${nic.state}, not ${states.join(' or ')}`);
    }
  }

  private setPortState(port: Port, to: PortState): void {
    const from = port.state;
    port.state = to;
    this.stateEvent('port', port.id, undefined, from, to);
  }

  private setNicState(nic: Nic, to: NicState): void {
    const from = nic.state;
    nic.state = to;
    if (from === 'connected' || to === 'connected') {
      // A fresh array: a flood in progress keeps iterating the old one.
      const list: Nic[] = [];
      for (const port of this.portMap.values()) for (const n of port.nics.values()) if (n.state === 'connected') list.push(n);
      this.connected = list;
    }
    this.stateEvent('nic', nic.port.id, nic.index, from, to);
  }

  private stateEvent(object: 'port' | 'nic', portId: number, nicIndex: number | undefined, from: string | null, to: string): void {
    this.events.emit('state', { time: this.now(), object, portId, ...(nicIndex !== undefined ? { nicIndex } : {}), from, to });
  }

  private extensionError(extension: Extension, phase: string, error: unknown): void {
    bump(this.switchCounters.extensionErrors, extension.name);
    this.events.emit('error', { time: this.now(), extension: extension.name, phase, message: errorMessage(error) });
  }
}

export type { NicType, PortType };
