// NIC connections on a port: (port id, NIC index), types, the state table
// (created -> connected <-> disconnected -> deleted) and the references that
// NIC_DELETE waits for: frames in flight, OIDs queued or running, extension references.
import type { Frame, FrameSink } from '../emulator/net/frame.ts';
import { formatMac } from '../emulator/net/frame.ts';
import type { Port } from './port.ts';
import type { VlanPolicy } from './extensions/vlan.ts';

export type NicType = 'external' | 'internal' | 'synthetic' | 'emulated';
export const NIC_TYPES: readonly NicType[] = ['external', 'internal', 'synthetic', 'emulated'];

export type NicState = 'created' | 'connected' | 'disconnected' | 'deleted';

export interface NicParameters {
  readonly portId: number;
  readonly index: number;
  readonly type: NicType;
  /** "aa:bb:cc:dd:ee:ff" */
  readonly mac: string;
  readonly mtu: number;
  readonly friendlyName: string;
  readonly state: NicState;
}

export interface NicOptions {
  /** 0 (default): the adapter attached directly to the port, e.g. a VM's. */
  index?: number;
  type: NicType;
  mac: Uint8Array;
  /** Largest L3 payload; frames may carry 14 (18 with a VLAN tag) bytes of header on top. Default 1500. */
  mtu?: number;
  friendlyName?: string;
  /** Where the switch delivers this NIC's frames. */
  sink: FrameSink;
}

/** What extensions see of a NIC; also the handle a forwarding extension adds as a destination. */
export interface NicInfo {
  readonly portId: number;
  readonly index: number;
  readonly type: NicType;
  readonly state: NicState;
  readonly mac: Uint8Array;
  readonly mtu: number;
  readonly friendlyName: string;
  readonly port: { readonly id: number; readonly vlan: VlanPolicy };
}

export const DEFAULT_MTU = 1500;

export class Nic implements NicInfo {
  state: NicState = 'created';
  mac: Uint8Array;
  mtu: number;
  friendlyName: string;
  /** Frames of batches in flight from or to this NIC, and frames an extension holds. */
  inflight = 0;
  /** OIDs on this NIC queued or running. */
  pendingOids = 0;
  /** References extensions took (legal only while connected). */
  extensionReferences = 0;
  /** Delivery batch being built for this NIC (data path scratch, reset after each delivery). */
  outbox: Frame[] | null = null;
  private drainWaiters: (() => void)[] = [];

  constructor(
    readonly port: Port,
    readonly index: number,
    readonly type: NicType,
    options: NicOptions,
    public sink: FrameSink,
  ) {
    this.mac = Uint8Array.from(options.mac.subarray(0, 6));
    this.mtu = options.mtu ?? DEFAULT_MTU;
    this.friendlyName = options.friendlyName ?? `port ${port.id} nic ${index}`;
  }

  get portId(): number {
    return this.port.id;
  }

  get references(): number {
    return this.inflight + this.pendingOids + this.extensionReferences;
  }

  parameters(): NicParameters {
    return {
      portId: this.port.id,
      index: this.index,
      type: this.type,
      mac: formatMac(this.mac),
      mtu: this.mtu,
      friendlyName: this.friendlyName,
      state: this.state,
    };
  }

  /** Call after lowering any of the reference counts. */
  checkDrained(): void {
    if (this.references === 0 && this.drainWaiters.length) {
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const wake of waiters) wake();
    }
  }

  /** Resolves once nothing references the NIC (at once if nothing does). */
  drained(): Promise<void> {
    if (this.references === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }
}

export function nicLabel(portId: number, index: number): string {
  return `port ${portId} NIC ${index}`;
}
