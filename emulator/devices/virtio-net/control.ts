// The control virtqueue (virtio-net 5.1.6.5): the queue walk, its commands,
// and the receive filter they program: promiscuous / all-multicast modes and
// the MAC table.
import { formatMacAt, sameMac } from '../../net/frame.ts';
import { DEVICE_NAME, QueueEngine, type VirtioNetCore } from './core.ts';
import { GUEST_ERROR_REASONS, bump } from '../../net/drop-reasons.ts';
import { VirtqueueError, gatherReadable, type Virtqueue } from './virtqueue.ts';

export const CTRL_OK = 0;
export const CTRL_ERR = 1;

export const CTRL_CLASS_RX = 0;
export const CTRL_RX_PROMISC = 0;
export const CTRL_RX_ALLMULTI = 1;
export const CTRL_CLASS_MAC = 1;
export const CTRL_MAC_TABLE_SET = 0;
export const CTRL_MAC_ADDR_SET = 1;

/** Control requests are a few bytes; a MAC table of 64 + 64 entries is under 1 KiB. */
const MAX_CONTROL_REQUEST = 4096;

/** Above this many entries in one table the filter lets that whole class through (as QEMU does). */
export const MAC_TABLE_ENTRIES = 64;

export interface RxFilterState {
  promisc: boolean;
  allmulti: boolean;
  /** The tables' MACs in formatMac's form (net/frame.ts). */
  unicast: string[];
  multicast: string[];
  unicastOverflow: boolean;
  multicastOverflow: boolean;
}

export class RxFilter {
  // Promiscuous until the driver programs the filter: a driver without
  // CTRL_RX never can, and must still receive (QEMU starts the same way).
  promisc = true;
  allmulti = false;
  private unicast = new Set<string>();
  private multicast = new Set<string>();
  private unicastOverflow = false;
  private multicastOverflow = false;

  reset(): void {
    this.promisc = true;
    this.allmulti = false;
    this.unicast.clear();
    this.multicast.clear();
    this.unicastOverflow = this.multicastOverflow = false;
  }

  /** Whether a frame for destination `data[0..6]` reaches a guest whose address is `ownMac`. */
  accepts(data: Uint8Array, ownMac: Uint8Array): boolean {
    if (this.promisc) return true;
    if (data.length < 6) return false;
    if (data[0]! & 1) {
      if (data[0] === 0xff && data[1] === 0xff && data[2] === 0xff && data[3] === 0xff && data[4] === 0xff && data[5] === 0xff) return true;
      return this.allmulti || this.multicastOverflow || this.multicast.has(formatMacAt(data, 0));
    }
    return sameMac(data, 0, ownMac) || this.unicastOverflow || this.unicast.has(formatMacAt(data, 0));
  }

  /** VIRTIO_NET_CTRL_MAC_TABLE_SET: two tables, each a le32 count then count MACs. Returns false when malformed. */
  setTables(data: Uint8Array): boolean {
    const view = new DataView(data.buffer, data.byteOffset, data.length);
    let at = 0;
    const tables: Set<string>[] = [];
    const overflow: boolean[] = [];
    for (let t = 0; t < 2; t++) {
      if (at + 4 > data.length) return false;
      const count = view.getUint32(at, true);
      at += 4;
      if (count > (data.length - at) / 6) return false;
      const set = new Set<string>();
      if (count <= MAC_TABLE_ENTRIES) for (let i = 0; i < count; i++) set.add(formatMacAt(data, at + 6 * i));
      tables.push(set);
      overflow.push(count > MAC_TABLE_ENTRIES);
      at += 6 * count;
    }
    if (at !== data.length) return false;
    this.unicast = tables[0]!;
    this.multicast = tables[1]!;
    this.unicastOverflow = overflow[0]!;
    this.multicastOverflow = overflow[1]!;
    return true;
  }

  saveState(): RxFilterState {
    return {
      promisc: this.promisc,
      allmulti: this.allmulti,
      unicast: [...this.unicast],
      multicast: [...this.multicast],
      unicastOverflow: this.unicastOverflow,
      multicastOverflow: this.multicastOverflow,
    };
  }

  restoreState(state: RxFilterState): void {
    this.promisc = state.promisc;
    this.allmulti = state.allmulti;
    this.unicast = new Set(state.unicast);
    this.multicast = new Set(state.multicast);
    this.unicastOverflow = state.unicastOverflow;
    this.multicastOverflow = state.multicastOverflow;
  }
}

export interface ControlContext {
  filter: RxFilter;
  ctrlRx: boolean;
  ctrlMacAddr: boolean;
  setMac(mac: Uint8Array): void;
}

/** Runs one control command (`request` = class, command, data) and returns the ack byte. */
export function runControlCommand(request: Uint8Array, ctx: ControlContext): number {
  if (request.length < 2) return CTRL_ERR;
  const cls = request[0]!;
  const cmd = request[1]!;
  const data = request.subarray(2);
  if (cls === CTRL_CLASS_RX && ctx.ctrlRx) {
    if (data.length !== 1) return CTRL_ERR;
    if (cmd === CTRL_RX_PROMISC) ctx.filter.promisc = data[0] !== 0;
    else if (cmd === CTRL_RX_ALLMULTI) ctx.filter.allmulti = data[0] !== 0;
    else return CTRL_ERR;
    return CTRL_OK;
  }
  if (cls === CTRL_CLASS_MAC) {
    if (cmd === CTRL_MAC_TABLE_SET && ctx.ctrlRx) return ctx.filter.setTables(data) ? CTRL_OK : CTRL_ERR;
    if (cmd === CTRL_MAC_ADDR_SET && ctx.ctrlMacAddr) {
      if (data.length !== 6) return CTRL_ERR;
      ctx.setMac(data.slice());
      return CTRL_OK;
    }
  }
  return CTRL_ERR;
}

/** Walks the control queue: runs each command and writes its ack byte. */
export class ControlEngine extends QueueEngine implements ControlContext {
  /** VIRTIO_NET_F_CTRL_RX negotiated (set by feature negotiation). */
  ctrlRx = false;
  /** VIRTIO_NET_F_CTRL_MAC_ADDR negotiated. */
  ctrlMacAddr = false;
  readonly filter: RxFilter;

  constructor(core: VirtioNetCore, queue: Virtqueue) {
    super(core, queue);
    this.filter = core.filter;
  }

  setMac(mac: Uint8Array): void {
    this.core.setMac(mac);
  }

  process(): void {
    const { core, queue } = this;
    if (!queue.ready || !core.driverReady || !core.busMaster) return;
    let walked = 0;
    try {
      const count = queue.pending();
      for (; walked < count; walked++) {
        const chain = queue.pop();
        if (!chain.writable.length) throw new VirtqueueError(GUEST_ERROR_REASONS.ctrlNoAck, 'control command without a writable ack byte');
        const ack = chain.readableLength <= MAX_CONTROL_REQUEST ? runControlCommand(gatherReadable(this.memory, chain), this) : CTRL_ERR;
        if (ack !== CTRL_OK) bump(this.counters.guestErrors, GUEST_ERROR_REASONS.ctrlCommandRefused);
        this.memory.write(chain.writable[0]!.addr, Uint8Array.of(ack));
        queue.push(chain.head, 1);
      }
      if (queue.publish()) core.interrupt();
    } catch (error) {
      core.queueFailure(queue, error);
    }
    if (this.trace) this.trace(DEVICE_NAME, 'ctrl.ring', { avail: queue.lastAvail, used: queue.usedIdx, chains: walked });
  }
}
