// Fuzz targets for virtio-net, driven the way a hostile guest would: through
// the BAR (configuration, feature negotiation in any order, resets, notifies)
// and through guest RAM (descriptor tables, indirect tables, loops, lengths,
// addresses outside RAM, available-index jumps, net headers with every flag
// and GSO combination, control commands), interleaved with frames from the
// network and save/restore round trips.
//
// Invariants (checked after every step):
// - nothing throws out of the device (notify, config read/write, receive,
//   timers, restore; a refused restore is a DeviceStateError that changes nothing);
// - no guest-RAM access outside RAM is even attempted (FakeMemory.refused stays empty);
// - the work of one step is bounded by the queue sizes (bytes read + written);
// - every frame handed to the sink is a frame, its offload metadata consistent
//   (and a GSO frame segments as it says);
// - the device's used index moves forward by at most the queue size per step,
//   and never more chains are out than the queue holds;
// - a broken queue stays broken (and NEEDS_RESET set) until the driver resets;
// - counters add up: what reached the sink is txFrames/txBytes; every plain
//   frame given to receive() is delivered, dropped with a reason, or waiting.
import type { FuzzTarget, Rng } from '../../../scripts/fuzz/harness.ts';
import type { Frame } from '../../net/frame.ts';
import { MAX_GSO_FRAME_SIZE, MIN_GSO_SEGMENT_SIZE, segment } from '../../net/offload.ts';
import { FakePlatform } from '../../testing.ts';
import { DeviceStateError } from '../state-error.ts';
import { CTRL_CLASS_MAC, CTRL_CLASS_RX, CTRL_MAC_ADDR_SET, CTRL_MAC_TABLE_SET, CTRL_RX_ALLMULTI, CTRL_RX_PROMISC } from './control.ts';
import { OFFERED_FEATURES } from './features.ts';
import { GSO_ECN, GSO_NONE, GSO_TCPV4, GSO_TCPV6, GSO_UDP, HDR_F_DATA_VALID, HDR_F_NEEDS_CSUM, NET_HDR_SIZE, frameFromTx, parseHeader, writeHeader, type TxOffloads } from './header.ts';
import { COMMON, DEVICE_CONFIG_OFFSET, ISR_OFFSET, NOTIFY_MULTIPLIER, NOTIFY_OFFSET, STATUS_ACKNOWLEDGE, STATUS_DEVICE_NEEDS_RESET, STATUS_DRIVER, STATUS_DRIVER_OK, STATUS_FAILED, STATUS_FEATURES_OK } from './pci-transport.ts';
import { Arena, DESC_F_INDIRECT, DESC_F_NEXT, DESC_F_WRITE, TestDriver } from './testing.ts';
import { Virtqueue, VirtqueueError } from './virtqueue.ts';

/** Small RAM: addresses outside it come easily, and a case allocates little. */
const RAM = 1 << 20;
/** Guest buffers go here (the rings sit below, from TestDriver's arena at 0x10000). */
const DATA_START = 0x40000;
const OWN_MAC = Uint8Array.of(0x52, 0x54, 0, 0x12, 0x34, 0x56);
const BACKLOG_BYTES = 8 * 1024 * 1024;

class InvariantError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvariantError';
  }
}

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new InvariantError(message);
}

// --- guest-side helpers: the fuzzer writes guest RAM directly (never counted as device work) ---

class Guest {
  private next = DATA_START;
  constructor(readonly bytes: Uint8Array) {}

  /** Room for `length` bytes in the data area (wrapping: old buffers get reused, as a driver would). */
  alloc(length: number, align = 16): number {
    let at = Math.ceil(this.next / align) * align;
    if (at + length > RAM) at = DATA_START;
    this.next = at + length;
    return at;
  }

  put(data: Uint8Array): number {
    const at = this.alloc(data.length);
    this.bytes.set(data, at);
    return at;
  }

  u16(addr: number, value: number): void {
    if (addr >= 0 && addr + 2 <= RAM) {
      this.bytes[addr] = value & 0xff;
      this.bytes[addr + 1] = (value >>> 8) & 0xff;
    }
  }

  u32(addr: number, value: number): void {
    this.u16(addr, value & 0xffff);
    this.u16(addr + 2, value >>> 16);
  }

  readU16(addr: number): number {
    return addr >= 0 && addr + 2 <= RAM ? this.bytes[addr]! | (this.bytes[addr + 1]! << 8) : 0;
  }

  desc(table: number, index: number, addr: number, length: number, flags: number, next: number, high = 0): void {
    const at = table + 16 * index;
    this.u32(at, addr);
    this.u32(at + 4, high);
    this.u32(at + 8, length);
    this.u16(at + 12, flags);
    this.u16(at + 14, next);
  }
}

/** An address a hostile driver likes: in RAM, at its very end, just past it, far out, zero, above 4 GiB. */
function address(rng: Rng, guest: Guest, length: number): { addr: number; high: number } {
  switch (rng.int(10)) {
    case 0:
      return { addr: RAM - rng.int(64), high: 0 };
    case 1:
      return { addr: RAM + rng.int(4096), high: 0 };
    case 2:
      return { addr: rng.u32(), high: 0 };
    case 3:
      return { addr: rng.int(RAM), high: rng.chance(0.5) ? 1 : rng.u32() };
    case 4:
      return { addr: rng.int(RAM), high: 0 }; // anywhere, rings and tables included
    default:
      return { addr: guest.alloc(Math.min(Math.max(length, 1), 0x20000)), high: 0 };
  }
}

function length(rng: Rng): number {
  return rng.pick([0, 1, 11, 12, 13, 25, 26, 60, 1514, 1526, 4096, 65547, 65548, 65559, 0x7fffffff, 0xffffffff, rng.int(2048), rng.int(70000), rng.u32()]);
}

function descFlags(rng: Rng): number {
  return rng.chance(0.1) ? rng.u32() & 0xffff : rng.int(8);
}

/** A packet the TX path parses: IPv4/IPv6 TCP or UDP (sometimes tagged, sometimes broken), or noise. */
function packet(rng: Rng, payloadLength: number): { data: Uint8Array; l4: number; udp: boolean; v6: boolean } {
  const kind = rng.int(6);
  const tagged = rng.chance(0.1);
  const l3 = 14 + (tagged ? 4 : 0);
  const v6 = kind === 1 || (kind === 3 && rng.chance(0.5));
  const udp = kind === 2;
  const ihl = v6 ? 40 : rng.chance(0.9) ? 20 : rng.pick([0, 4, 24, 60]);
  const l4 = l3 + (v6 ? 40 : Math.max(ihl, 20));
  const l4Header = udp ? 8 : rng.chance(0.9) ? 20 : rng.pick([0, 4, 32, 60]);
  const total = Math.min(MAX_GSO_FRAME_SIZE + (rng.chance(0.02) ? 1 : 0), l4 + Math.max(l4Header, 20) + payloadLength);
  const data = kind === 5 ? rng.bytes(Math.min(total, 4096)) : new Uint8Array(total);
  if (kind === 5) return { data, l4, udp, v6 };
  data.set(OWN_MAC, 0);
  data.set(rng.bytes(6), 6);
  let at = 12;
  if (tagged) {
    data[12] = 0x81;
    data[14] = rng.int(16);
    data[15] = rng.int(256);
    at = 16;
  }
  data[at] = v6 ? 0x86 : 0x08;
  data[at + 1] = v6 ? 0xdd : 0x00;
  if (v6) {
    data[l3] = rng.chance(0.95) ? 0x60 : rng.int(256);
    data[l3 + 6] = udp ? 17 : rng.chance(0.9) ? 6 : rng.int(256);
  } else {
    data[l3] = (rng.chance(0.95) ? 0x40 : rng.int(16) << 4) | (ihl / 4);
    // Fragment flags and offset: usually none, sometimes MF or an offset.
    if (rng.chance(0.1)) data[l3 + 6] = rng.int(256);
    if (rng.chance(0.1)) data[l3 + 7] = rng.int(256);
    data[l3 + 9] = udp ? 17 : rng.chance(0.9) ? 6 : rng.int(256);
  }
  if (l4 + 13 < data.length) data[l4 + 12] = (l4Header / 4) << 4;
  for (let i = 0; i < 32 && l4 + 20 + i < data.length; i++) data[l4 + 20 + i] = rng.int(256);
  return { data, l4, udp, v6 };
}

function payloadLength(rng: Rng): number {
  return rng.pick([0, 1, 40, 87, 88, 89, 1448, 1449, 2896, rng.int(9000), rng.int(65536), 65535 - 40, 65535 - 60 - 20]);
}

/** A net header: every flag and GSO type, with sizes and offsets at and around the interesting values; or what Linux sends. */
function netHeader(rng: Rng, l4: number, udp: boolean, v6 = false, plausibleChance = 0): Uint8Array {
  const out = new Uint8Array(NET_HDR_SIZE);
  if (rng.chance(plausibleChance)) {
    const gso = !udp && rng.chance(0.6);
    const gsoType = gso ? (v6 ? GSO_TCPV6 : GSO_TCPV4) : GSO_NONE;
    const csum = gso || rng.chance(0.7);
    const gsoSize = gso ? rng.pick([MIN_GSO_SEGMENT_SIZE, 536, 1448, 1460]) : 0;
    writeHeader({ flags: csum ? HDR_F_NEEDS_CSUM : 0, gsoType, hdrLen: l4 + 20, gsoSize, csumStart: csum ? l4 : 0, csumOffset: csum ? (udp ? 6 : 16) : 0, numBuffers: 0 }, out);
    return out;
  }
  const gsoType = rng.pick([GSO_NONE, GSO_NONE, GSO_TCPV4, GSO_TCPV6, GSO_UDP, GSO_TCPV4 | GSO_ECN, GSO_TCPV6 | GSO_ECN, 2, 5, 0x7f, 0xff, rng.int(256)]);
  const plausible = rng.chance(0.6);
  writeHeader(
    {
      flags: rng.pick([0, HDR_F_NEEDS_CSUM, HDR_F_NEEDS_CSUM, HDR_F_DATA_VALID, 3, rng.int(256)]),
      gsoType,
      hdrLen: rng.edgy(16),
      gsoSize: rng.pick([0, 1, 16, MIN_GSO_SEGMENT_SIZE - 1, MIN_GSO_SEGMENT_SIZE, 536, 1448, 1460, 9000, 0xffff, rng.edgy(16)]),
      csumStart: plausible ? l4 : rng.edgy(16),
      csumOffset: plausible ? (udp ? 6 : 16) : rng.edgy(16),
      numBuffers: rng.edgy(16),
    },
    out,
  );
  return out;
}

// --- what every frame out of the device must be ---

function checkFrame(frame: Frame, rng: Rng, offloads?: TxOffloads): void {
  const length = frame.data.length;
  check(length >= 14, `a ${length}-byte frame reached the sink`);
  check(length <= MAX_GSO_FRAME_SIZE, `a ${length}-byte frame reached the sink`);
  const csum = frame.csum;
  if (csum) check(Number.isInteger(csum.start) && Number.isInteger(csum.offset) && csum.start >= 0 && csum.offset >= 0 && csum.start + csum.offset + 2 <= length, `csum ${JSON.stringify(csum)} outside ${length} bytes`);
  const gso = frame.gso;
  if (!gso) return;
  check(csum !== undefined, 'GSO without csum');
  check(gso.type === 'tcp4' || gso.type === 'tcp6', `GSO type ${gso.type} (virtio offers TCP segmentation only)`);
  if (offloads) check(gso.type === 'tcp4' ? offloads.tso4 : offloads.tso6, `GSO ${gso.type} not negotiated`);
  check(Number.isInteger(gso.segmentSize) && gso.segmentSize >= MIN_GSO_SEGMENT_SIZE, `GSO segment size ${gso.segmentSize}`);
  check(Number.isInteger(gso.headerLength) && gso.headerLength >= 14 && gso.headerLength < length, `GSO header length ${gso.headerLength} of ${length}`);
  check(length - gso.headerLength > gso.segmentSize, 'a GSO frame that fits one segment');
  if (rng.chance(0.25)) {
    // The metadata is what the packet is: the software segmenter takes it and cuts where it says.
    let pieces: Frame[];
    try {
      pieces = segment(frame);
    } catch (error) {
      throw new InvariantError(`a GSO frame from the device does not segment: ${(error as Error).message}`);
    }
    check(pieces.length === Math.ceil((length - gso.headerLength) / gso.segmentSize), `${pieces.length} segments for ${length - gso.headerLength} bytes at ${gso.segmentSize}`);
  }
}

// --- target 1: the TX header against the packet ---

const headerTarget: FuzzTarget = {
  name: 'virtio-net.header',
  quick: 3000,
  run(rng) {
    const { data, l4, udp, v6 } = packet(rng, payloadLength(rng));
    const header = netHeader(rng, l4, udp, v6, 0.3);
    const offloads: TxOffloads = { csum: rng.chance(0.8), tso4: rng.chance(0.7), tso6: rng.chance(0.7) };
    const result = frameFromTx(parseHeader(header), data, offloads);
    if (typeof result === 'string') return;
    check(result.data === data, 'the frame is the packet');
    // Runts and packets over 64 KiB never get here: the TX path counts them first (tx-runt, tx-too-big).
    if (data.length >= 14 && data.length <= MAX_GSO_FRAME_SIZE) checkFrame(result, rng, offloads);
    if (result.csum) check(offloads.csum, 'csum without VIRTIO_NET_F_CSUM');
  },
};

// --- target 2: the ring walk against hostile tables ---

/** What `walk` returns, or undefined when it refused the ring with a VirtqueueError (anything else it throws is a finding). */
function refusedOr<T>(what: string, walk: () => T): T | undefined {
  try {
    return walk();
  } catch (error) {
    check(error instanceof VirtqueueError, `${what} threw ${String(error)}`);
    return undefined;
  }
}

const virtqueueTarget: FuzzTarget = {
  name: 'virtio-net.virtqueue',
  quick: 1500,
  run(rng) {
    const platform = new FakePlatform(RAM);
    const memory = platform.memory;
    const guest = new Guest(memory.bytes);
    const maxSize = rng.pick([1, 2, 8, 64, 256]);
    const queue = new Virtqueue(memory, 1, maxSize);
    queue.indirect = rng.chance(0.7);
    queue.size = rng.chance(0.8) ? maxSize >> rng.int(3) || 1 : rng.edgy(16);
    // Tables flush against the end of RAM now and then: one descriptor past the end is then outside it.
    const edge = rng.chance(0.3);
    const edgeViaTable = edge && queue.indirect && rng.chance(0.5);
    queue.desc = edgeViaTable ? 0x1000 : edge || rng.chance(0.3) ? RAM - 16 * (queue.size & 0xffff) : rng.chance(0.8) ? 0x1000 : address(rng, guest, 16 * maxSize).addr;
    queue.avail = rng.chance(0.8) ? 0x8000 : rng.edgy(20);
    queue.used = rng.chance(0.8) ? 0xa000 : rng.edgy(20);
    if (queue.validate()) return; // the device refuses to enable it (covered by the device target)
    const size = queue.size;
    // A table of hostile descriptors: chains, loops, indirect tables (nested, looping, outside RAM).
    for (let i = 0; i < size; i++) {
      const kind = rng.int(8);
      if (kind === 0 && queue.indirect) {
        const entries = rng.pick([0, 1, 2, size, size + 1, size + 1, rng.int(2 * size + 2)]);
        const table = rng.chance(0.6) ? guest.alloc(16 * Math.max(entries, 1)) : rng.chance(0.5) ? RAM - 16 * entries : address(rng, guest, 16 * entries).addr;
        for (let e = 0; e < entries && table + 16 * e + 16 <= RAM; e++) {
          const { addr, high } = address(rng, guest, 64);
          guest.desc(table, e, addr, rng.chance(0.5) ? rng.int(2048) : length(rng), descFlags(rng), rng.chance(0.8) ? e + 1 : rng.pick([entries, entries - 1, e, rng.edgy(16)]), high);
        }
        guest.desc(queue.desc, i, table, rng.chance(0.8) ? 16 * entries : length(rng), DESC_F_INDIRECT | (rng.chance(0.1) ? DESC_F_NEXT : 0), rng.int(size));
      } else {
        const { addr, high } = address(rng, guest, 64);
        guest.desc(queue.desc, i, addr, rng.chance(0.5) ? rng.int(2048) : length(rng), descFlags(rng), rng.chance(0.7) ? (i + 1) % size : rng.pick([i, size, size - 1, rng.edgy(16)]), high);
      }
    }
    let edgeHead: number | undefined;
    if (edge) {
      // A well-formed chain whose last link points one past the end (of the queue, or of an indirect
      // table flush against the end of RAM), or a head one past the end: the bounds checks, not luck, must stop it.
      const links = rng.range(1, Math.min(size, 4));
      const table = edgeViaTable ? RAM - 16 * links : queue.desc;
      for (let e = 0; e < links; e++) guest.desc(table, e, guest.alloc(64), 64, DESC_F_NEXT, e === links - 1 ? (edgeViaTable ? links : size) : e + 1);
      if (edgeViaTable) guest.desc(queue.desc, 0, table, 16 * links, DESC_F_INDIRECT, 0);
      edgeHead = rng.chance(0.8) ? 0 : size;
    }
    const available = Math.max(edgeHead === undefined ? 0 : 1, rng.int(size + 1));
    for (let n = 0; n < available; n++) {
      const head = n === 0 && edgeHead !== undefined ? edgeHead : rng.chance(0.9) ? rng.int(size) : rng.pick([size, rng.edgy(16)]);
      guest.u16(queue.avail + 4 + 2 * n, head);
    }
    guest.u16(queue.avail + 2, edgeHead !== undefined || rng.chance(0.9) ? available : rng.edgy(16));
    const pending = refusedOr('pending()', () => queue.pending());
    if (pending === undefined) return;
    check(pending <= size, `${pending} pending in a queue of ${size}`);
    for (let n = 0; n < pending; n++) {
      const chain = refusedOr('pop()', () => queue.pop());
      if (chain === undefined) return;
      check(chain.head < size, `head ${chain.head}`);
      const headAt = queue.desc + 16 * chain.head;
      if (guest.readU16(headAt + 12) & DESC_F_INDIRECT) {
        // The spec's limit: an indirect table holds no more descriptors than the queue.
        const tableLength = guest.readU16(headAt + 8) + guest.readU16(headAt + 10) * 65536;
        check(tableLength > 0 && tableLength % 16 === 0 && tableLength / 16 <= size, `an indirect table of ${tableLength} bytes taken in a queue of ${size}`);
      }
      check(chain.readable.length + chain.writable.length <= size, `a chain of ${chain.readable.length + chain.writable.length} buffers in a queue of ${size}`);
      let readable = 0;
      let writable = 0;
      for (const s of chain.readable) readable += s.length;
      for (const s of chain.writable) writable += s.length;
      check(readable === chain.readableLength && writable === chain.writableLength, 'chain lengths add up');
      for (const s of [...chain.readable, ...chain.writable]) check(memory.contains(s.addr, s.length), `buffer ${s.addr}+${s.length} outside RAM`);
      queue.push(chain.head, Math.min(writable, 0xffffffff));
    }
    queue.publish();
    check(memory.refused.length === 0, `access outside RAM: ${JSON.stringify(memory.refused[0])}`);
    check(((queue.usedIdx - 0) & 0xffff) <= size, 'used index beyond one ring');
  },
};

// --- target 3: the whole device, step by step ---

type StepKind = 'bar' | 'notify' | 'receive' | 'time' | 'reset' | 'restore' | 'other';

class Session {
  d: TestDriver;
  guest: Guest;
  sent: Frame[] = [];
  sentBytes = 0;
  /** Plain frames given to receive() on this device; exact counting holds while only they were given. */
  fed = 0;
  exactRx = true;
  /** Device resets so far (a status write of 0, from whichever step). */
  resets = 0;
  /**
   * Most cases play a driver that mostly behaves (traffic flows, so the paths
   * behind the checks run); the rest are chaos from the first step.
   */
  readonly calm: boolean;

  constructor(readonly rng: Rng) {
    this.calm = rng.chance(0.75);
    this.d = new TestDriver({ platform: new FakePlatform(RAM), mac: OWN_MAC, txInterruptHoldMs: rng.pick([0, 4]) });
    this.guest = new Guest(this.d.platform.memory.bytes);
    this.watch();
  }

  /** Counts the device's resets and collects what it transmits. */
  watch(): void {
    const nic = this.d.nic;
    const reset = nic.reset.bind(nic);
    nic.reset = () => {
      this.resets++;
      reset();
    };
    this.attachSink();
  }

  attachSink(): void {
    this.d.nic.setTransmitSink({
      deliver: (frames) => {
        for (const frame of frames) {
          this.sent.push(frame);
          this.sentBytes += frame.data.length;
        }
      },
    });
  }

  get nic() {
    return this.d.nic;
  }

  bar(offset: number, value: number, size: 1 | 2 | 4): void {
    this.d.fn.write(0, offset, value, size);
  }

  /** How often a ring write goes wrong on purpose. */
  get hostile(): number {
    return this.calm ? 0.01 : 0.1;
  }

  kick(index: number): void {
    this.bar(NOTIFY_OFFSET + NOTIFY_MULTIPLIER * index, index, 2);
  }

  /** The queue as the device has it (the guest knows what it configured). */
  ring(index: number): { desc: number; avail: number; used: number; size: number } | undefined {
    const q = this.nic.queues[index]!;
    if (!q.enabled || q.size === 0 || q.size > q.maxSize) return undefined;
    return { desc: q.desc, avail: q.avail, used: q.used, size: q.size };
  }

  /** Makes a chain available at a (usually free) descriptor slot; sometimes a raw head or an index jump. */
  publish(index: number, head: number): void {
    const ring = this.ring(index);
    if (!ring) return;
    const idx = this.guest.readU16(ring.avail + 2);
    this.guest.u16(ring.avail + 4 + 2 * (idx % ring.size), this.rng.chance(this.hostile / 2) ? this.rng.edgy(16) : head);
    const jump = this.rng.chance(this.hostile / 2) ? this.rng.edgy(16) : 1;
    this.guest.u16(ring.avail + 2, idx + jump);
  }

  /** Writes `buffers` as a chain (or through an indirect table) at descriptor `slot`; returns the head. */
  chain(index: number, slot: number, buffers: { addr: number; length: number; flags: number; high?: number }[]): number {
    const ring = this.ring(index)!;
    const rng = this.rng;
    const indirect = rng.chance(0.2);
    if (indirect) {
      const table = this.guest.alloc(16 * buffers.length);
      buffers.forEach((b, i) => {
        const last = i === buffers.length - 1;
        this.guest.desc(table, i, b.addr, b.length, b.flags | (last ? 0 : DESC_F_NEXT), rng.chance(this.hostile / 2) ? rng.edgy(16) : i + 1, b.high ?? 0);
      });
      this.guest.desc(ring.desc, slot % ring.size, table, rng.chance(this.hostile) ? length(rng) : 16 * buffers.length, DESC_F_INDIRECT, 0);
      return slot % ring.size;
    }
    buffers.forEach((b, i) => {
      const last = i === buffers.length - 1;
      const at = (slot + i) % ring.size;
      const next = !rng.chance(this.hostile / 2) ? (slot + i + 1) % ring.size : rng.chance(0.5) ? slot % ring.size : rng.edgy(16);
      this.guest.desc(ring.desc, at, b.addr, b.length, b.flags | (last ? 0 : DESC_F_NEXT), next, b.high ?? 0);
    });
    return slot % ring.size;
  }
}

const STATUS_BITS = [STATUS_ACKNOWLEDGE, STATUS_DRIVER, STATUS_FEATURES_OK, STATUS_DRIVER_OK, STATUS_FAILED, STATUS_DEVICE_NEEDS_RESET];

/** How often a calm case takes each action of step() (by its case number); a device that is not ready is probed again. */
const CALM_WEIGHTS = [1, 1, 1, 0.5, 0.5, 15, 15, 15, 12, 12, 4, 2, 4, 1, 3, 1];

function weighted(rng: Rng, weights: readonly number[]): number {
  let total = 0;
  for (const w of weights) total += w;
  let x = rng.float() * total;
  for (let i = 0; i < weights.length; i++) if ((x -= weights[i]!) < 0) return i;
  return weights.length - 1;
}

/** One action, hostile or not; returns what kind of step it was (the invariants differ for resets and restores). */
function step(s: Session): StepKind {
  const rng = s.rng;
  const d = s.d;
  const action = !s.calm ? rng.int(16) : !s.nic.driverReady && rng.chance(0.5) ? 0 : weighted(rng, CALM_WEIGHTS);
  switch (action) {
    case 0: {
      // A well-behaved probe (Linux's order), with a random feature subset and queue size.
      d.arena = new Arena(0x10000);
      const features = rng.chance(0.7) ? OFFERED_FEATURES : (BigInt(rng.u32()) | (BigInt(rng.u32()) << 32n)) & OFFERED_FEATURES;
      try {
        d.start({ features: features | (1n << 32n), queueSize: rng.pick([1, 2, 4, 16, 64, 256]) });
      } catch (error) {
        // The driver's own "features refused" (a dependency missing): the device said no, correctly.
        if (!(error instanceof Error && /features refused/.test(error.message))) throw error;
      }
      return 'reset';
    }
    case 1: {
      // The device status in odd orders: any bits, zero (reset) now and then.
      const value = rng.chance(0.15) ? 0 : rng.chance(0.7) ? STATUS_BITS.filter(() => rng.chance(0.5)).reduce((a, b) => a | b, 0) : rng.int(256);
      s.bar(COMMON.deviceStatus, value, 1);
      return value === 0 ? 'reset' : 'bar';
    }
    case 2: {
      // Common configuration: a field, an edgy value, any access size, sometimes misaligned.
      const fields = Object.values(COMMON);
      const offset = rng.chance(0.9) ? rng.pick(fields) + (rng.chance(0.1) ? 1 : 0) : rng.int(0x100);
      const size = rng.pick([1, 2, 4] as const);
      if (rng.chance(0.5)) s.bar(offset, rng.edgy(size * 8), size);
      else d.fn.read(0, offset, size);
      return offset === COMMON.deviceStatus ? 'other' : 'bar';
    }
    case 3: {
      // Queue setup out of order: select (sometimes beyond the queues), size, addresses, enable.
      s.bar(COMMON.queueSelect, rng.chance(0.9) ? rng.int(3) : rng.edgy(16), 2);
      if (rng.chance(0.5)) s.bar(COMMON.queueSize, rng.pick([0, 1, 3, 64, 256, 512, rng.edgy(16)]), 2);
      for (const [lo, hi] of [
        [COMMON.queueDescLo, COMMON.queueDescHi],
        [COMMON.queueDriverLo, COMMON.queueDriverHi],
        [COMMON.queueDeviceLo, COMMON.queueDeviceHi],
      ] as const) {
        if (rng.chance(0.5)) s.bar(lo, rng.chance(0.7) ? 0x10000 + 16 * rng.int(0x3000) : rng.edgy(32), 4);
        if (rng.chance(0.1)) s.bar(hi, rng.edgy(32), 4);
      }
      if (rng.chance(0.5)) s.bar(COMMON.queueEnable, rng.pick([0, 1, 0xffff]), 2);
      return 'bar';
    }
    case 4: {
      // Feature words in any order, the select beyond 1 included.
      s.bar(COMMON.driverFeatureSelect, rng.pick([0, 1, 2, rng.u32()]), 4);
      s.bar(COMMON.driverFeature, rng.chance(0.5) ? rng.u32() : Number((OFFERED_FEATURES >> BigInt(32 * rng.int(2))) & 0xffffffffn), 4);
      return 'bar';
    }
    case 5:
    case 6: {
      // Transmit: header + packet in one to three buffers, or anything at all.
      const ring = s.ring(1);
      if (!ring) return 'other';
      const chains = rng.int(Math.min(ring.size, 8)) + 1;
      for (let n = 0; n < chains; n++) {
        const slot = rng.int(ring.size);
        let head: number;
        if (!rng.chance(s.hostile * 2)) {
          const { data, l4, udp, v6 } = packet(rng, payloadLength(rng));
          const header = netHeader(rng, l4, udp, v6, s.calm ? 0.7 : 0);
          const whole = new Uint8Array(NET_HDR_SIZE + data.length);
          whole.set(header);
          whole.set(data, NET_HDR_SIZE);
          const addr = s.guest.put(whole);
          const split = rng.int(3);
          const cut = rng.int(whole.length + 1);
          const buffers =
            split === 0
              ? [{ addr, length: whole.length, flags: 0 }]
              : split === 1
                ? [{ addr, length: NET_HDR_SIZE, flags: 0 }, { addr: addr + NET_HDR_SIZE, length: data.length, flags: 0 }]
                : [{ addr, length: cut, flags: 0 }, { addr: addr + cut, length: whole.length - cut, flags: rng.chance(s.hostile) ? DESC_F_WRITE : 0 }];
          head = s.chain(1, slot, buffers.filter((b) => b.length > 0 || rng.chance(0.3)));
        } else {
          const buffers = Array.from({ length: rng.range(1, 4) }, () => {
            const { addr, high } = address(rng, s.guest, 64);
            return { addr, high, length: length(rng), flags: descFlags(rng) & ~DESC_F_NEXT };
          });
          head = s.chain(1, slot, buffers);
        }
        s.publish(1, head);
      }
      if (rng.chance(0.9)) s.kick(1);
      return 'notify';
    }
    case 7: {
      // Receive buffers: writable chains of any size, now and then readable or short ones.
      const ring = s.ring(0);
      if (!ring) return 'other';
      const count = rng.int(Math.min(ring.size, 16)) + 1;
      for (let n = 0; n < count; n++) {
        const buffers = Array.from({ length: rng.range(1, 3) }, () => {
          const size = !rng.chance(s.hostile * 2) ? rng.pick([NET_HDR_SIZE, 64, 1526, 2048, 4096, 65562]) : length(rng);
          const placed = !rng.chance(s.hostile) ? { addr: s.guest.alloc(Math.min(size, 0x20000)), high: 0 } : address(rng, s.guest, size);
          return { ...placed, length: size, flags: !rng.chance(s.hostile / 2) ? DESC_F_WRITE : descFlags(rng) & ~DESC_F_NEXT };
        });
        s.publish(0, s.chain(0, rng.int(ring.size), buffers));
      }
      if (rng.chance(0.9)) s.kick(0);
      return 'notify';
    }
    case 8:
    case 9: {
      // Frames from the network: random lengths and content, for us, broadcast or anyone; some with offloads.
      const frames: Frame[] = [];
      for (let n = rng.range(1, 6); n > 0; n--) {
        const kind = rng.int(10);
        if (kind === 0) {
          // A GSO frame as a switch hands it over (valid), or with metadata a buggy sender set.
          const { data, l4 } = packet(rng, rng.pick([100, 3000, 20000, 65535 - 60]));
          const mss = rng.pick([MIN_GSO_SEGMENT_SIZE, 536, 1448, rng.edgy(16)]);
          frames.push({ data, csum: { start: l4, offset: rng.chance(0.9) ? 16 : rng.edgy(16) }, gso: { type: rng.pick(['tcp4', 'tcp6', 'udp4'] as const), segmentSize: mss, headerLength: l4 + 20 } });
          s.exactRx = false;
        } else if (kind === 1) {
          const { data, l4 } = packet(rng, rng.int(1500));
          frames.push({ data, csum: { start: l4, offset: rng.chance(0.9) ? 16 : rng.edgy(16) } });
          s.exactRx = false;
        } else {
          const size = rng.chance(0.7) ? rng.int(1600) : rng.chance(0.5) ? rng.int(70000) : rng.pick([0, 13, 14, 1514, 1518, 1519, 65535]);
          const data = rng.chance(0.5) ? new Uint8Array(size) : rng.bytes(Math.min(size, 2048));
          if (data.length >= 6) data.set(rng.pick([OWN_MAC, Uint8Array.of(255, 255, 255, 255, 255, 255), Uint8Array.of(1, 0, 0x5e, 0, 0, 1), rng.bytes(6)]));
          frames.push({ data });
          s.fed++;
        }
      }
      s.nic.receive(frames);
      return 'receive';
    }
    case 10: {
      // A control command: any class and command, any data; sometimes no ack buffer or a readable one.
      const ring = s.ring(2);
      if (!ring) return 'other';
      const cls = rng.pick([CTRL_CLASS_RX, CTRL_CLASS_MAC, 2, 4, rng.int(256)]);
      const cmd = rng.pick([CTRL_RX_PROMISC, CTRL_RX_ALLMULTI, CTRL_MAC_TABLE_SET, CTRL_MAC_ADDR_SET, rng.int(256)]);
      let body: Uint8Array;
      if (cls === CTRL_CLASS_MAC && cmd === CTRL_MAC_TABLE_SET && rng.chance(0.7)) {
        const uni = rng.pick([0, 1, 64, 65, rng.edgy(32)]);
        const multi = rng.pick([0, 2, 65]);
        const entries = Math.min(uni, 100) + multi;
        body = new Uint8Array(8 + 6 * entries + (rng.chance(0.1) ? 1 : 0));
        const view = new DataView(body.buffer);
        view.setUint32(0, uni >>> 0, true);
        view.setUint32(4 + 6 * Math.min(uni, 100), multi, true);
      } else {
        body = rng.bytes(rng.pick([0, 1, 6, 7, rng.int(64), 5000]));
      }
      const request = s.guest.put(Uint8Array.of(cls, cmd, ...body.subarray(0, 8192)));
      const ack = s.guest.alloc(1, 1);
      const buffers = [{ addr: request, length: 2 + body.length, flags: 0 }];
      if (rng.chance(0.9)) buffers.push({ addr: ack, length: rng.pick([1, 1, 0, 4]), flags: rng.chance(0.95) ? DESC_F_WRITE : 0 });
      s.publish(2, s.chain(2, rng.int(ring.size), buffers));
      s.kick(2);
      return 'notify';
    }
    case 11: {
      // A notify of any queue (or of none), the ISR read, the device config read or written.
      const what = rng.int(4);
      if (what === 0) s.bar(NOTIFY_OFFSET + rng.int(16), rng.edgy(16), rng.pick([1, 2, 4] as const));
      else if (what === 1) d.fn.read(0, ISR_OFFSET, rng.pick([1, 2, 4] as const));
      else if (what === 2) d.fn.read(0, DEVICE_CONFIG_OFFSET + rng.int(0x20), rng.pick([1, 2, 4] as const));
      else s.bar(DEVICE_CONFIG_OFFSET + rng.int(0x20), rng.u32(), rng.pick([1, 2, 4] as const));
      return what === 0 ? 'notify' : 'bar';
    }
    case 12:
      // Time passes: a held completion interrupt fires.
      d.platform.timers.advance(rng.pick([0, 1, 3, 4, 5, 100]));
      return 'time';
    case 13:
      // The cable and bus mastering.
      if (rng.chance(0.5)) s.nic.setLinkUp(rng.chance(0.6));
      else d.fn.busMaster = rng.chance(0.8);
      if (rng.chance(0.2)) s.nic.setTransmitSink(null);
      else if (rng.chance(0.5)) s.attachSink();
      return 'other';
    case 14:
      restore(s);
      return 'restore';
    default: {
      // Scribbles: the guest overwrites a ring (indices, flags, entries) behind the device's back.
      const ring = s.ring(rng.int(3));
      if (!ring) return 'other';
      const at = rng.pick([ring.avail, ring.avail + 2, ring.used + 2, ring.desc + 16 * rng.int(ring.size) + rng.pick([0, 8, 12, 14])]);
      s.guest.u16(at, rng.edgy(16));
      return 'other';
    }
  }
}

/** Save, JSON, a fresh device on a copy of RAM; sometimes a mutated state, which restores or is refused whole. */
function restore(s: Session): void {
  const rng = s.rng;
  const saved = JSON.parse(JSON.stringify(s.nic.saveState())) as Record<string, unknown>;
  const mutated = rng.chance(0.4);
  if (mutated) mutate(rng, saved);
  const platform = new FakePlatform(RAM);
  platform.memory.bytes.set(s.d.platform.memory.bytes);
  const fresh = new TestDriver({ platform, mac: OWN_MAC });
  fresh.adopt(s.d);
  const before = JSON.stringify(fresh.nic.saveState());
  try {
    fresh.nic.restoreState(saved);
  } catch (error) {
    check(mutated, `an unmutated saved state was refused: ${String(error)}`);
    check(error instanceof DeviceStateError, `restore threw ${String(error)}, not a DeviceStateError`);
    check(JSON.stringify(fresh.nic.saveState()) === before, 'a refused restore changed the device');
    return;
  }
  s.nic.destroy();
  s.d = fresh;
  s.guest = new Guest(platform.memory.bytes);
  s.sent = [];
  s.sentBytes = 0;
  s.fed = 0;
  s.exactRx = true;
  s.watch();
}

function mutate(rng: Rng, state: Record<string, unknown>): void {
  const paths: (string | number)[][] = [];
  const walk = (value: unknown, path: (string | number)[]) => {
    if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(v, [...path, Array.isArray(value) ? Number(k) : k]);
    else paths.push(path);
  };
  walk(state, []);
  const path = rng.pick(paths);
  let parent = state as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
  parent[path[path.length - 1]!] = rng.pick<unknown>([null, -1, 1.5, 2 ** 53, rng.edgy(32), rng.edgy(16), 0, true, 'ff', '', 'zz', [], {}, rng.u32().toString(16)]);
}

interface QueueSnapshot {
  usedIdx: number;
  lastAvail: number;
  broken: boolean;
  size: number;
}

function queueSnapshot(s: Session): QueueSnapshot[] {
  return s.nic.queues.map((q) => ({ usedIdx: q.usedIdx, lastAvail: q.lastAvail, broken: q.broken, size: q.size }));
}

/** Bytes one step may touch: each queue's ring, tables and buffers once, the backlog, the headers. */
function workBound(s: Session): number {
  let bound = 4096;
  for (const q of s.nic.queues) {
    const size = Math.min(q.size, q.maxSize);
    bound += size * (16 * size + MAX_GSO_FRAME_SIZE + NET_HDR_SIZE + 64);
  }
  return bound + BACKLOG_BYTES + 1024 * (NET_HDR_SIZE + 64);
}

function rxWaiting(s: Session): number {
  // The backlog is private to the device; the fuzzer reads its length to close the books.
  return (s.nic as unknown as { rx: { backlog: Frame[] } }).rx.backlog.length;
}

function checkAfter(s: Session, kind: StepKind, before: QueueSnapshot[], statusBefore: number, work: number, sentBefore: number): void {
  const memory = s.d.platform.memory;
  check(memory.refused.length === 0, `guest RAM access outside RAM: ${JSON.stringify(memory.refused[0])}`);
  check(work <= workBound(s), `one ${kind} step touched ${work} bytes (bound ${workBound(s)})`);
  for (let i = sentBefore; i < s.sent.length; i++) checkFrame(s.sent[i]!, s.rng);
  const c = s.nic.counters;
  check(c.txFrames === s.sent.length && c.txBytes === s.sentBytes, `tx counters ${c.txFrames}/${c.txBytes} vs ${s.sent.length}/${s.sentBytes} at the sink`);
  if (s.exactRx) {
    const dropped = Object.values(c.rxDropped).reduce((a, b) => a + (b ?? 0), 0);
    check(s.fed === c.rxFrames + dropped + rxWaiting(s), `rx: ${s.fed} frames given, ${c.rxFrames} delivered + ${dropped} dropped + ${rxWaiting(s)} waiting`);
  }
  const after = queueSnapshot(s);
  const status = s.nic.transport.status;
  after.forEach((q, i) => {
    const was = before[i]!;
    if (s.nic.queues[i]!.ready) {
      const out = (q.lastAvail - q.usedIdx) & 0xffff;
      check(out <= q.size, `queue ${i}: ${out} chains out in a queue of ${q.size}`);
    }
    if (kind === 'reset' || kind === 'restore') return;
    const moved = (q.usedIdx - was.usedIdx) & 0xffff;
    check(moved <= Math.max(q.size, was.size), `queue ${i}: used index moved ${moved} in one step (size ${q.size})`);
    check(!was.broken || q.broken, `queue ${i} was broken and is not, without a reset`);
  });
  if (kind !== 'reset' && kind !== 'restore' && statusBefore & STATUS_DEVICE_NEEDS_RESET) check((status & STATUS_DEVICE_NEEDS_RESET) !== 0, 'NEEDS_RESET cleared without a reset');
}

const deviceTarget: FuzzTarget = {
  name: 'virtio-net.device',
  quick: 150,
  run(rng) {
    const s = new Session(rng);
    if (rng.chance(0.8)) s.d.start({ queueSize: rng.pick([4, 16, 64, 256]) });
    const steps = rng.range(10, 60);
    for (let n = 0; n < steps; n++) {
      const before = queueSnapshot(s);
      const statusBefore = s.nic.transport.status;
      const memory = s.d.platform.memory;
      const workBefore = memory.bytesRead + memory.bytesWritten;
      const sentBefore = s.sent.length;
      const resets = s.resets;
      let kind = step(s);
      if (s.resets !== resets && kind !== 'restore') kind = 'reset';
      const now = s.d.platform.memory;
      // A restore swaps the device and its RAM: its work is not this device's.
      const work = now === memory ? now.bytesRead + now.bytesWritten - workBefore : 0;
      checkAfter(s, kind, before, statusBefore, work, now === memory ? sentBefore : 0);
    }
    s.nic.destroy();
    // A destroyed device is inert: nothing it is asked throws.
    s.d.fn.write(0, NOTIFY_OFFSET + NOTIFY_MULTIPLIER, 1, 2);
    s.d.fn.read(0, COMMON.deviceStatus, 1);
    s.nic.receive([{ data: new Uint8Array(60) }]);
    s.d.platform.timers.advance(100);
  },
};

export const targets: FuzzTarget[] = [headerTarget, virtqueueTarget, deviceTarget];
