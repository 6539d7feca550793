// The switch's external port with an uplink behind it (uplink.ts): the
// seed's lifecycle for the one external NIC, driven by the uplink's state.
//
//   attach:        PORT_CREATE (external) -> NIC_CREATE (external, the uplink's MTU)
//   uplink up:     NIC_CONNECT (frames flow)
//   uplink down:   NIC_DISCONNECT -> drain -> NIC_DELETE -> PORT_TEARDOWN -> PORT_DELETE
//   up again:      a new port, the same way
//   detach():      the stop order, if the port is still there
//
// To the extensions it is a port like any other (the ACL, capture and MAC
// learning see it). Frames the switch sends out through it are made plain
// for the transport: a GSO frame is segmented to the uplink's MTU (offload.ts,
// paid for from a segmentation budget: segment-budget.ts), a pending checksum
// completed; a plain frame over the MTU is dropped (no fragmentation at L2).
// Frames coming in whose source MAC is one of this switch's own NICs are
// dropped: a remote peer must not take over a local VM's MAC.
import type { Frame, FrameSink } from '../../emulator/net/frame.ts';
import { ETH_HEADER_LENGTH, ETH_TYPE_VLAN } from '../../emulator/net/frame.ts';
import { MIN_GSO_SEGMENT_SIZE, completeChecksum, parseLayout, segment } from '../../emulator/net/offload.ts';
import { bump } from '../counters.ts';
import { UPLINK_DROP_REASONS, type UplinkDropReason } from '../drop-reasons.ts';
import type { PortProperty } from '../port.ts';
import { SegmentBudget } from '../segment-budget.ts';
import type { Switch } from '../switch.ts';
import type { Uplink } from './uplink.ts';
import { macKeyAt, macKeyOfText } from './mac-key.ts';

export interface ExternalPortOptions {
  /** The port's name (default "uplink: <description>"). */
  name?: string;
  /** The external NIC's MAC (default: random, locally administered). */
  mac?: Uint8Array;
  /** Added right after PORT_CREATE (e.g. a VLAN trunk). */
  properties?: PortProperty[];
}

const VLAN_TAG_LENGTH = 4;

export class ExternalPort {
  /** The current port (undefined while the uplink is down). */
  portId: number | undefined;
  /** Frames dropped on the way between the switch and the uplink, by reason. */
  readonly drops: Partial<Record<UplinkDropReason, number>> = {};
  private connected = false;
  private detached = false;
  private chain: Promise<void> = Promise.resolve();
  private readonly mac: Uint8Array;
  private readonly name: string;
  private readonly properties: PortProperty[];
  private readonly segmentBudget: SegmentBudget;
  /** MACs of this switch's other NICs (macKey form), refreshed on state changes. */
  private localMacs = new Set<number>();
  private readonly unsubscribe: (() => void)[] = [];
  private readonly receiver: FrameSink = { deliver: (frames) => this.fromUplink(frames) };

  private constructor(
    private readonly sw: Switch,
    readonly uplink: Uplink,
    options: ExternalPortOptions,
  ) {
    this.mac = options.mac ? Uint8Array.from(options.mac.subarray(0, 6)) : randomLocalMac();
    this.name = options.name ?? `uplink: ${uplink.description}`;
    this.properties = options.properties ?? [];
    this.segmentBudget = new SegmentBudget(sw.now);
  }

  /** Creates the external port and NIC; NIC_CONNECT follows whenever the uplink is up. */
  static async attach(sw: Switch, uplink: Uplink, options: ExternalPortOptions = {}): Promise<ExternalPort> {
    const port = new ExternalPort(sw, uplink, options);
    port.unsubscribe.push(sw.on('state', (event) => event.object === 'nic' && port.refreshLocalMacs()));
    port.unsubscribe.push(uplink.onStateChange((up) => port.enqueue(() => (up ? port.bringUp() : port.takeDown()))));
    await port.create();
    if (uplink.isUp) port.enqueue(() => port.bringUp());
    await port.settled();
    return port;
  }

  /** Resolves when the lifecycle steps queued so far are done. */
  settled(): Promise<void> {
    return this.chain;
  }

  get isConnected(): boolean {
    return this.connected;
  }

  /** The stop order (if the port is there); the uplink itself stays open (close it yourself). */
  async detach(): Promise<void> {
    if (this.detached) return this.chain;
    this.detached = true;
    for (const off of this.unsubscribe.splice(0)) off();
    this.enqueue(() => this.takeDown());
    return this.chain;
  }

  private enqueue(step: () => Promise<void>): void {
    this.chain = this.chain.then(step).catch((error: unknown) => {
      this.sw.events.emit('error', { time: this.sw.now(), extension: 'switch', phase: 'uplink', message: `${this.name}: ${(error as Error).message}` });
    });
  }

  private async create(): Promise<void> {
    if (this.portId !== undefined || this.detached) return;
    const port = await this.sw.createPort({ type: 'external', name: this.name, ...(this.properties.length ? { properties: this.properties } : {}) });
    try {
      await this.sw.createNic(port.id, {
        index: 0,
        type: 'external',
        mac: this.mac,
        mtu: this.uplink.mtu,
        friendlyName: this.name,
        sink: { deliver: (frames) => this.toUplink(frames) },
      });
    } catch (error) {
      await this.sw.stopPort(port.id).catch(() => undefined);
      throw error;
    }
    this.portId = port.id;
    this.refreshLocalMacs();
  }

  private async bringUp(): Promise<void> {
    if (this.detached || !this.uplink.isUp) return;
    await this.create();
    if (this.connected || this.portId === undefined) return;
    await this.sw.connectNic(this.portId, 0);
    this.connected = true;
    this.uplink.setReceiver(this.receiver);
  }

  private async takeDown(): Promise<void> {
    this.uplink.setReceiver(null);
    this.connected = false;
    const portId = this.portId;
    if (portId === undefined) return;
    this.portId = undefined;
    await this.sw.stopPort(portId);
  }

  private refreshLocalMacs(): void {
    const macs = new Set<number>();
    for (const port of this.sw.ports()) {
      if (port.id === this.portId) continue;
      for (const nic of port.nics) macs.add(macKeyOfText(nic.mac));
    }
    this.localMacs = macs;
  }

  private fromUplink(frames: readonly Frame[]): void {
    const portId = this.portId;
    if (!this.connected || portId === undefined) {
      bump(this.drops, UPLINK_DROP_REASONS.notConnected, frames.length);
      return;
    }
    let accepted: Frame[] | undefined;
    for (let i = 0; i < frames.length; i++) {
      const frame = frames[i]!;
      if (frame.data.length >= 12 && this.localMacs.size && this.localMacs.has(macKeyAt(frame.data, 6))) {
        bump(this.drops, UPLINK_DROP_REASONS.localSourceMac);
        accepted ??= frames.slice(0, i);
        continue;
      }
      accepted?.push(frame);
    }
    const batch = accepted ?? frames;
    if (batch.length) this.sw.ingress(portId, 0, batch);
  }

  /** The switch's delivery to the external NIC: made plain and within the MTU, then to the transport. */
  private toUplink(frames: readonly Frame[]): void {
    if (!this.connected) {
      bump(this.drops, UPLINK_DROP_REASONS.notConnected, frames.length);
      return;
    }
    const mtu = this.uplink.mtu;
    let ready: Frame[] | undefined;
    for (let i = 0; i < frames.length; i++) {
      const frame = frames[i]!;
      const limit = mtu + linkHeaderLength(frame.data);
      if (!frame.csum && !frame.gso && frame.data.length <= limit) {
        ready?.push(frame);
        continue;
      }
      ready ??= frames.slice(0, i);
      if (!frame.gso) {
        if (frame.data.length > limit) {
          bump(this.drops, UPLINK_DROP_REASONS.oversize);
          continue;
        }
        try {
          ready.push(completeChecksum(frame));
        } catch {
          bump(this.drops, UPLINK_DROP_REASONS.segmentFailed);
        }
        continue;
      }
      const fitted = fitGsoToMtu(frame, mtu);
      if (typeof fitted === 'string') {
        bump(this.drops, fitted);
        continue;
      }
      if (!this.segmentBudget.takeFor(fitted)) {
        bump(this.drops, UPLINK_DROP_REASONS.segmentBudget);
        continue;
      }
      try {
        for (const piece of segment(fitted)) ready.push(piece);
      } catch {
        // An OffloadError (malformed offload fields) or worse: the frame is dropped whole.
        bump(this.drops, UPLINK_DROP_REASONS.segmentFailed);
      }
    }
    const batch = ready ?? frames;
    if (batch.length) this.uplink.send(batch);
  }
}

function linkHeaderLength(data: Uint8Array): number {
  return data[12] === ETH_TYPE_VLAN >> 8 && data[13] === (ETH_TYPE_VLAN & 0xff) ? ETH_HEADER_LENGTH + VLAN_TAG_LENGTH : ETH_HEADER_LENGTH;
}

/**
 * The GSO frame with its segment size lowered so that every segment's IP
 * packet fits `mtu` (the guest chose its MSS for its own MTU, which may be
 * larger than the uplink's), or why it cannot be.
 */
export function fitGsoToMtu(frame: Frame, mtu: number): Frame | UplinkDropReason {
  const gso = frame.gso!;
  const layout = parseLayout(frame.data);
  if (typeof layout === 'string') return UPLINK_DROP_REASONS.segmentFailed;
  const ipHeaders = layout.l4 - layout.l3;
  let room: number;
  if (gso.type === 'udp4') {
    room = mtu - ipHeaders;
  } else {
    if (layout.l4 + 13 > frame.data.length) return UPLINK_DROP_REASONS.segmentFailed;
    room = mtu - ipHeaders - (frame.data[layout.l4 + 12]! >> 4) * 4;
  }
  if (gso.segmentSize <= room) return frame;
  if (room < MIN_GSO_SEGMENT_SIZE) return UPLINK_DROP_REASONS.segmentFailed;
  return { ...frame, gso: { ...gso, segmentSize: room } };
}

function randomLocalMac(): Uint8Array {
  const mac = new Uint8Array(6);
  globalThis.crypto.getRandomValues(mac);
  mac[0] = (mac[0]! & 0xfe) | 0x02;
  return mac;
}
