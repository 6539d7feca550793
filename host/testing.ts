// Helpers for the switch's unit tests (frames, sinks, a virtual clock, an
// extension that records what it sees and can veto on cue).
import type { Frame, FrameSink, RxOffloads } from '../emulator/net/frame.ts';
import { NO_RX_OFFLOADS } from '../emulator/net/frame.ts';
import type { GuestNic, NicCounters, NicDriverEvent, NicModel } from '../emulator/net/nic.ts';
import type { Extension, ExtensionContext, ExtensionKind } from './extension.ts';
import type { OidName, OidReply, OidRequest, OidStatus } from './oid.ts';
import type { Switch } from './switch.ts';
import type { OidEvent } from './events.ts';

export function mac(last: number, first = 0x02): Uint8Array {
  return Uint8Array.of(first, 0, 0, 0, (last >> 8) & 0xff, last & 0xff);
}

export const BROADCAST = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff);

/** An Ethernet frame dst <- src, `length` bytes in all (payload zero-filled, a sequence number at 14..17). */
export function ethFrame(dst: Uint8Array, src: Uint8Array, options: { length?: number; ethertype?: number; vlan?: number; seq?: number; payload?: Uint8Array } = {}): Frame {
  const tagged = options.vlan !== undefined;
  const header = tagged ? 18 : 14;
  const length = Math.max(options.length ?? 64, header + (options.payload?.length ?? 4));
  const data = new Uint8Array(length);
  data.set(dst.subarray(0, 6), 0);
  data.set(src.subarray(0, 6), 6);
  const ethertype = options.ethertype ?? 0x0800;
  if (tagged) {
    data[12] = 0x81;
    data[13] = 0x00;
    data[14] = (options.vlan! >> 8) & 0x0f;
    data[15] = options.vlan! & 0xff;
    data[16] = ethertype >> 8;
    data[17] = ethertype & 0xff;
  } else {
    data[12] = ethertype >> 8;
    data[13] = ethertype & 0xff;
  }
  if (options.payload) data.set(options.payload, header);
  else if (options.seq !== undefined) new DataView(data.buffer).setUint32(header, options.seq >>> 0);
  return { data };
}

/** An IPv4 packet in an Ethernet frame (no checksums: the switch does not look at them). */
export function ipv4Frame(dst: Uint8Array, src: Uint8Array, ip: { src: string; dst: string; protocol: number; sport?: number; dport?: number; vlan?: number }): Frame {
  const l4 = new Uint8Array(8);
  const dv = new DataView(l4.buffer);
  dv.setUint16(0, ip.sport ?? 0);
  dv.setUint16(2, ip.dport ?? 0);
  const payload = new Uint8Array(20 + l4.length);
  payload[0] = 0x45;
  new DataView(payload.buffer).setUint16(2, payload.length);
  payload[8] = 64;
  payload[9] = ip.protocol;
  payload.set(ip.src.split('.').map(Number), 12);
  payload.set(ip.dst.split('.').map(Number), 16);
  payload.set(l4, 20);
  return ethFrame(dst, src, { ethertype: 0x0800, payload, ...(ip.vlan !== undefined ? { vlan: ip.vlan } : {}) });
}

/** The frame with 802.1Q/802.1ad tags ([TPID, TCI] each, outermost first) inserted before its ethertype. */
export function withTags(frame: Frame, tags: readonly (readonly [number, number])[]): Frame {
  const data = new Uint8Array(frame.data.length + 4 * tags.length);
  data.set(frame.data.subarray(0, 12), 0);
  tags.forEach(([tpid, tci], k) => {
    data[12 + 4 * k] = tpid >> 8;
    data[13 + 4 * k] = tpid & 0xff;
    data[14 + 4 * k] = tci >> 8;
    data[15 + 4 * k] = tci & 0xff;
  });
  data.set(frame.data.subarray(12), 12 + 4 * tags.length);
  return { data };
}

/** IPv6 extension headers ipv6Frame can put before the upper layer. */
export type Ipv6Extension = { type: 0 | 43 | 60 | 51 } | { type: 44; offset: number; more?: boolean };

/**
 * An IPv6 packet in an Ethernet frame: the extension headers in order (each
 * 8 bytes, AH 16), then 8 bytes of upper layer starting with the ports.
 */
export function ipv6Frame(
  dst: Uint8Array,
  src: Uint8Array,
  ip: { src: Uint32Array; dst: Uint32Array; protocol: number; sport?: number; dport?: number; extensions?: readonly Ipv6Extension[]; vlan?: number },
): Frame {
  const extensions = ip.extensions ?? [];
  const lengths = extensions.map((e) => (e.type === 51 ? 16 : 8));
  const extLength = lengths.reduce((a, b) => a + b, 0);
  const payload = new Uint8Array(40 + extLength + 8);
  const dv = new DataView(payload.buffer);
  payload[0] = 0x60;
  dv.setUint16(4, extLength + 8);
  payload[6] = extensions[0]?.type ?? ip.protocol;
  payload[7] = 64;
  for (let w = 0; w < 4; w++) {
    dv.setUint32(8 + 4 * w, ip.src[w]!);
    dv.setUint32(24 + 4 * w, ip.dst[w]!);
  }
  let offset = 40;
  extensions.forEach((e, k) => {
    payload[offset] = extensions[k + 1]?.type ?? ip.protocol;
    if (e.type === 51) payload[offset + 1] = 2; // (2 + 2) * 4 = 16 bytes
    else if (e.type === 44) dv.setUint16(offset + 2, (e.offset << 3) | (e.more ? 1 : 0));
    offset += lengths[k]!;
  });
  dv.setUint16(offset, ip.sport ?? 0);
  dv.setUint16(offset + 2, ip.dport ?? 0);
  return ethFrame(dst, src, { ethertype: 0x86dd, payload, ...(ip.vlan !== undefined ? { vlan: ip.vlan } : {}) });
}

export class RecordingSink implements FrameSink {
  readonly frames: Frame[] = [];
  batches = 0;
  deliver(frames: readonly Frame[]): void {
    this.batches++;
    this.frames.push(...frames);
  }
  clear(): void {
    this.frames.length = 0;
    this.batches = 0;
  }
}

export class VirtualClock {
  constructor(public time = 1_700_000_000_000) {}
  readonly now = (): number => this.time;
  advance(ms: number): void {
    this.time += ms;
  }
}

export interface LoggedCall {
  extension: string;
  phase: 'request' | 'complete';
  oid: OidName;
  status?: OidStatus;
}

/** Records OIDs (into a shared log) and vetoes the OIDs listed in `vetoes`; tracks its own "state" to show undo. */
export class RecordingExtension implements Extension {
  readonly vetoes = new Set<OidName>();
  /** Objects this extension believes exist (added on request, removed again when a veto completes). */
  readonly believed = new Set<string>();
  context: ExtensionContext | null = null;
  /** When set, oidRequest waits for this promise first (an OID the extension pends). */
  pendUntil: Promise<void> | null = null;

  constructor(
    readonly name: string,
    readonly kind: ExtensionKind,
    readonly log: LoggedCall[] = [],
  ) {}

  attach(context: ExtensionContext): void {
    this.context = context;
  }

  async oidRequest(request: OidRequest): Promise<OidReply> {
    this.log.push({ extension: this.name, phase: 'request', oid: request.oid });
    if (this.pendUntil) await this.pendUntil;
    if (this.vetoes.has(request.oid)) return { veto: `${this.name} says no` };
    const key = objectKey(request);
    if (key) this.believed.add(key);
    return undefined;
  }

  oidComplete(request: OidRequest, status: OidStatus): void {
    this.log.push({ extension: this.name, phase: 'complete', oid: request.oid, status });
    const key = objectKey(request);
    if (key && status !== 'success') this.believed.delete(key);
  }
}

function objectKey(request: OidRequest): string | null {
  switch (request.oid) {
    case 'OID_SWITCH_PORT_CREATE':
      return `port:${request.port.id}`;
    case 'OID_SWITCH_NIC_CREATE':
      return `nic:${request.nic.portId}/${request.nic.index}`;
    case 'OID_SWITCH_PORT_PROPERTY_ADD':
      return `property:${request.port.id}/${request.property.type}`;
    default:
      return null;
  }
}

/** createPort + createNic + connectNic with a recording sink. */
export async function attachVm(sw: Switch, macLast: number, options: { type?: 'synthetic' | 'emulated'; connect?: boolean; mtu?: number } = {}) {
  const sink = new RecordingSink();
  const type = options.type ?? 'synthetic';
  const port = await sw.createPort({ type, name: `vm${macLast}` });
  const address = mac(macLast);
  await sw.createNic(port.id, { type, mac: address, sink, ...(options.mtu !== undefined ? { mtu: options.mtu } : {}) });
  if (options.connect !== false) await sw.connectNic(port.id, 0);
  return { portId: port.id, mac: address, sink };
}

/** A guest NIC with no device behind it: the test plays the guest's driver (`driver()`) and transmits (`send()`). */
export class ScriptedNic implements GuestNic {
  driverReady: boolean;
  rxOffloads: RxOffloads = NO_RX_OFFLOADS;
  readonly counters: NicCounters = { txFrames: 0, txBytes: 0, rxFrames: 0, rxBytes: 0, rxDropped: {}, guestErrors: {} };
  readonly received: Frame[] = [];
  sink: FrameSink | null = null;
  destroyed = false;
  private readonly listeners = new Set<(e: NicDriverEvent) => void>();
  constructor(readonly model: NicModel, public mac: Uint8Array, ready = false) {
    this.driverReady = ready;
  }
  setTransmitSink(sink: FrameSink | null): void {
    this.sink = sink;
  }
  receive(frames: readonly Frame[]): void {
    this.received.push(...frames);
  }
  setLinkUp(): void {}
  onDriverEvent(listener: (e: NicDriverEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  saveState(): unknown {
    return {};
  }
  restoreState(): void {}
  destroy(): void {
    this.destroyed = true;
  }
  /** The guest transmits. */
  send(frame: Frame): void {
    this.sink?.deliver([frame]);
  }
  /** The guest's driver does something. */
  driver(event: NicDriverEvent): void {
    if (event.type === 'ready') this.driverReady = true;
    if (event.type === 'stopped') this.driverReady = false;
    for (const listener of this.listeners) listener(event);
  }
}

/**
 * The seed's lifecycle as a model driven only by successful OID events: each
 * port's state and its NIC 0's, and a violation for every OID out of order
 * (a NIC created twice, connected while deleted, a port deleted with a NIC...).
 */
export class OidLifecycleModel {
  readonly ports = new Map<number, { state: 'created' | 'teardown'; nic: 'created' | 'connected' | 'disconnected' | null }>();
  readonly violations: string[] = [];

  constructor(sw: Switch) {
    sw.on('oid', (e) => this.observe(e));
  }

  private observe(e: OidEvent): void {
    if (e.status !== 'success' || e.portId === 0) return;
    const p = this.ports.get(e.portId);
    const bad = (why: string) => this.violations.push(`${e.oid} on port ${e.portId}: ${why}`);
    switch (e.oid) {
      case 'OID_SWITCH_PORT_CREATE':
        if (p) bad('port exists');
        this.ports.set(e.portId, { state: 'created', nic: null });
        break;
      case 'OID_SWITCH_NIC_CREATE':
        if (!p || p.state !== 'created' || p.nic !== null) bad('needs a created port without NIC');
        else p.nic = 'created';
        break;
      case 'OID_SWITCH_NIC_CONNECT':
        if (!p || (p.nic !== 'created' && p.nic !== 'disconnected')) bad(`NIC is ${p?.nic}`);
        else p.nic = 'connected';
        break;
      case 'OID_SWITCH_NIC_DISCONNECT':
        if (!p || p.nic !== 'connected') bad(`NIC is ${p?.nic}`);
        else p.nic = 'disconnected';
        break;
      case 'OID_SWITCH_NIC_DELETE':
        if (!p || (p.nic !== 'created' && p.nic !== 'disconnected')) bad(`NIC is ${p?.nic}`);
        else p.nic = null;
        break;
      case 'OID_SWITCH_NIC_UPDATED':
        if (!p || p.nic === null) bad('no NIC');
        break;
      case 'OID_SWITCH_PORT_TEARDOWN':
        if (!p || p.state !== 'created' || p.nic !== null) bad('needs a created port without NIC');
        else p.state = 'teardown';
        break;
      case 'OID_SWITCH_PORT_DELETE':
        if (!p || p.state !== 'teardown') bad('needs a port in teardown');
        else this.ports.delete(e.portId);
        break;
      default:
        break;
    }
  }
}
