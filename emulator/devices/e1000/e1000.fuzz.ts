// Fuzz targets for the e1000 as a hostile guest and a hostile wire see it:
// random register accesses over MMIO and the I/O window (CTRL included, so
// VLAN strip, loopback and reset all happen), transmit rings full of hostile
// legacy/context/data descriptors (addresses outside RAM, huge lengths, TSO
// with bad fields), received frames of every length and ethertype class,
// snapshots through JSON onto a fresh device, and timer advances. After every
// step: nothing escaped, every frame on the wire and in the guest is a real
// Ethernet frame within its size limit, every frame handed to the receiver is
// in the ring, queued or counted with a catalogued reason, and each call (and
// each timer callback) did a bounded amount of DMA.
import type { Rng, FuzzTarget } from '../../../scripts/fuzz/harness.ts';
import type { Frame, GsoType } from '../../net/frame.ts';
import { MAX_GSO_FRAME_SIZE, MIN_GSO_SEGMENT_SIZE } from '../../net/offload.ts';
import { OFFLOAD_ERROR_REASONS, RX_DROP_REASONS } from '../../net/drop-reasons.ts';
import { buildIpv4, patternBytes, asE1000TsoInput } from '../../net/testing.ts';
import { DeviceStateError } from '../state-error.ts';
import { Harness, RX_RING } from './testing.ts';
import type { E1000State } from './state.ts';
import { MAX_PACKET_SIZE } from './offloads.ts';
import { MAX_FRAME_LPE, RX_QUEUE_LIMIT } from './rx.ts';
import { TX_BYTES_PER_KICK, TX_DESCRIPTORS_PER_KICK } from './tx.ts';
import {
  CTRL_PHY_RST,
  CTRL_RST,
  CTRL_SLU,
  CTRL_VME,
  ICR_VALID,
  IO_SIZE,
  MMIO_SIZE,
  RCTL_BAM,
  RCTL_BSEX,
  RCTL_EN,
  RCTL_LPE,
  RCTL_MPE,
  RCTL_SECRC,
  RCTL_UPE,
  RCTL_VFE,
  REG,
  STATS_END,
  STATS_START,
  TCTL_EN,
  TCTL_PSP,
} from './registers.ts';

const MEMORY = 2 * 1024 * 1024;
/** Receive buffers, inside MEMORY for the largest ring setupRing makes (64 x 16 KiB). */
const RX_BUFFER_AREA = 0x80000;
const REGISTER_OFFSETS = Object.values(REG) as number[];
/** The reasons counted before a frame reaches the receive engine (the device's entry, the offload resolution). */
const DEVICE_LEVEL_DROPS = new Set<string>([RX_DROP_REASONS.linkDown, ...Object.values(OFFLOAD_ERROR_REASONS)]);
const RX_REASONS = new Set<string>([...Object.values(RX_DROP_REASONS), ...Object.values(OFFLOAD_ERROR_REASONS)]);

// Work bounds, per entry-point call and per timer callback. Transmit: a kick
// reads at most its descriptor budget, its byte budget plus one packet that
// crosses it, and writes back a status word per descriptor. In loopback its
// frames come back through the receiver: at most that many bytes again,
// segmented at the MSS floor (at most 244 header bytes per 88 payload bytes),
// each frame in up to 64 buffers of 8-byte descriptor reads/16-byte writes.
// Receive: the queue the call drains (RX_QUEUE_LIMIT frames) plus what it was given.
const TX_READ = TX_DESCRIPTORS_PER_KICK * 16 + TX_BYTES_PER_KICK + MAX_PACKET_SIZE;
const LOOPBACK_FRAME_BYTES = Math.ceil((TX_READ / MIN_GSO_SEGMENT_SIZE) * (MIN_GSO_SEGMENT_SIZE + 244 + 4));
const QUEUE_BYTES = RX_QUEUE_LIMIT * (MAX_FRAME_LPE + 4 + 64 * 16);
const READ_BOUND = TX_READ + LOOPBACK_FRAME_BYTES + QUEUE_BYTES;
const WRITE_BOUND = TX_DESCRIPTORS_PER_KICK * 4 + 2 * (LOOPBACK_FRAME_BYTES + QUEUE_BYTES);

/** What the fuzzer watches inside the device (private members, reached on purpose). */
interface Internals {
  rx: {
    queued: number;
    receive(frames: readonly Frame[]): void;
    deliver(frame: { data: Uint8Array }): string;
  };
  loopbackMode: boolean;
}

class FuzzError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FuzzError';
  }
}

function check(condition: boolean, message: () => string): asserts condition {
  if (!condition) throw new FuzzError(message());
}

/** One device under attack and the tallies its invariants are checked against. */
class Subject {
  h: Harness;
  /** Frames handed to the receive engine (after the device's entry and offload resolution). */
  engineIn = 0;
  /** Frames handed to the device: by the wire (us) and by its own transmitter in loopback. */
  deviceIn = 0;
  /** GSO frames among them (may become several segments). */
  gsoIn = 0;
  private stepReads = 0;
  private stepWrites = 0;
  timerCallbacks = 0;
  /** Off after a hostile restore: counters read from a file need not add up. */
  accounting = true;

  constructor(h = new Harness(MEMORY)) {
    this.h = h;
    this.hook();
  }

  get inner(): Internals {
    return this.h.nic as unknown as Internals;
  }

  private hook(): void {
    const h = this.h;
    const rx = this.inner.rx;
    const receive = rx.receive.bind(rx);
    rx.receive = (frames) => {
      this.engineIn += frames.length;
      receive(frames);
    };
    const deliver = rx.deliver.bind(rx);
    rx.deliver = (frame) => {
      // What the guest gets: never less than an Ethernet header, never over the largest frame.
      check(frame.data.length >= 14 && frame.data.length <= MAX_FRAME_LPE, () => `the guest was given a ${frame.data.length}-byte frame`);
      return deliver(frame);
    };
    const nic = h.nic as unknown as { transmit(frame: Frame): void };
    const transmit = nic.transmit.bind(h.nic);
    nic.transmit = (frame) => {
      checkWireFrame(frame);
      if (this.inner.loopbackMode) {
        this.deviceIn++;
        if (frame.gso) this.gsoIn++;
      }
      transmit(frame);
    };
    // Each timer callback (the TX continuation above all) is one slice of work: bounded on its own.
    const timers = h.platform.timers;
    const arm = timers.setTimeout.bind(timers);
    timers.setTimeout = (callback, ms) =>
      arm(() => {
        const reads = h.memory.bytesRead;
        const writes = h.memory.bytesWritten;
        callback();
        this.timerCallbacks++;
        const r = h.memory.bytesRead - reads;
        const w = h.memory.bytesWritten - writes;
        check(r <= READ_BOUND && w <= WRITE_BOUND, () => `a timer callback read ${r} and wrote ${w} bytes`);
        this.stepReads += r;
        this.stepWrites += w;
      }, ms);
  }

  /** Runs one step, then checks every invariant. */
  step(what: string, action: () => void): void {
    const m = this.h.memory;
    const reads = m.bytesRead;
    const writes = m.bytesWritten;
    this.stepReads = 0;
    this.stepWrites = 0;
    action();
    const r = m.bytesRead - reads - this.stepReads;
    const w = m.bytesWritten - writes - this.stepWrites;
    check(r <= READ_BOUND && w <= WRITE_BOUND, () => `${what}: read ${r} and wrote ${w} bytes outside timer callbacks`);
    this.checkInvariants(what);
  }

  checkInvariants(what: string): void {
    const h = this.h;
    for (const access of h.memory.refused) check(!h.memory.contains(access.addr, access.length), () => `${what}: a refused access was inside RAM`);
    h.memory.refused.length = 0;
    for (const frame of h.sink.frames) checkWireFrame(frame);
    h.sink.frames.length = 0;
    const counters = h.nic.counters;
    let engineDrops = 0;
    let deviceDrops = 0;
    for (const [reason, count] of Object.entries(counters.rxDropped)) {
      check(RX_REASONS.has(reason), () => `${what}: rx drop reason '${reason}' is not in the catalogue`);
      if (DEVICE_LEVEL_DROPS.has(reason)) deviceDrops += count ?? 0;
      else engineDrops += count ?? 0;
    }
    if (!this.accounting) return;
    const accounted = counters.rxFrames + this.inner.rx.queued + engineDrops;
    check(accounted === this.engineIn, () => `${what}: ${this.engineIn} frames reached the receiver, ${accounted} accounted for (${counters.rxFrames} delivered, ${this.inner.rx.queued} queued, ${JSON.stringify(counters.rxDropped)}; guest errors ${JSON.stringify(counters.guestErrors)})`);
    // A frame may become several segments, never none.
    check(this.engineIn + deviceDrops >= this.deviceIn, () => `${what}: ${this.deviceIn} frames given to the device, only ${this.engineIn + deviceDrops} seen after its entry`);
    if (this.gsoIn === 0) check(this.engineIn + deviceDrops === this.deviceIn, () => `${what}: ${this.deviceIn} frames in, ${this.engineIn + deviceDrops} out of the entry`);
  }

  receive(frames: Frame[]): void {
    this.deviceIn += frames.length;
    this.gsoIn += frames.filter((f) => f.gso).length;
    this.h.nic.receive(frames);
  }

  /** Saves, goes through JSON, restores onto a fresh device with the same RAM, and carries on with that one. */
  snapshot(): void {
    const text = JSON.stringify(this.h.nic.saveState());
    const fresh = new Harness(MEMORY);
    fresh.memory.bytes.set(this.h.memory.bytes);
    fresh.fn.busMaster = this.h.fn.busMaster;
    fresh.nic.restoreState(JSON.parse(text));
    // Restore raises the delayed causes at once and re-evaluates the line (no throttle left pending): expect that.
    const expected = JSON.parse(text) as E1000State;
    expected.interrupts.icr = (expected.interrupts.icr | (expected.delayedCauses & ICR_VALID)) >>> 0;
    expected.interrupts.throttled = false;
    expected.delayedCauses = 0;
    const again = fresh.nic.saveState();
    check(JSON.stringify(again) === JSON.stringify(expected), () => `a restored state saves differently:\n${JSON.stringify(expected)}\n${JSON.stringify(again)}`);
    this.h.nic.destroy();
    this.h = fresh;
    this.hook();
  }
}

/** A frame on the wire (or looped back): a whole Ethernet header, within the device's limits, a sane GSO request. */
function checkWireFrame(frame: Frame): void {
  const length = frame.data.length;
  check(length >= 14, () => `a ${length}-byte frame left the device`);
  if (frame.gso) {
    check(length <= MAX_GSO_FRAME_SIZE, () => `a ${length}-byte GSO frame left the device`);
    check(Number.isInteger(frame.gso.segmentSize) && frame.gso.segmentSize >= MIN_GSO_SEGMENT_SIZE, () => `a GSO frame with segment size ${frame.gso!.segmentSize} left the device`);
  } else {
    check(length <= MAX_PACKET_SIZE + 4, () => `a ${length}-byte frame left the device`);
  }
}

// ---- generators -------------------------------------------------------------------------

function address(rng: Rng): { low: number; high: number } {
  switch (rng.int(8)) {
    case 0:
      return { low: rng.u32(), high: 0 };
    case 1:
      return { low: MEMORY - rng.int(64), high: 0 };
    case 2:
      return { low: rng.int(MEMORY), high: rng.chance(0.5) ? 1 : rng.u32() };
    default:
      return { low: rng.int(MEMORY), high: 0 };
  }
}

function registerValue(rng: Rng, offset: number): number {
  switch (offset) {
    case REG.CTRL: {
      let v = CTRL_SLU | (rng.chance(0.6) ? CTRL_VME : 0) | (rng.chance(0.05) ? CTRL_RST : 0) | (rng.chance(0.05) ? CTRL_PHY_RST : 0);
      if (rng.chance(0.2)) v |= rng.u32();
      return v >>> 0;
    }
    case REG.RCTL: {
      let v = (rng.chance(0.9) ? RCTL_EN : 0) | (rng.chance(0.3) ? RCTL_UPE : 0) | (rng.chance(0.3) ? RCTL_MPE : 0) | (rng.chance(0.5) ? RCTL_BAM : 0);
      v |= (rng.chance(0.4) ? RCTL_LPE : 0) | (rng.chance(0.3) ? RCTL_VFE : 0) | (rng.chance(0.3) ? RCTL_SECRC : 0) | (rng.chance(0.3) ? RCTL_BSEX : 0);
      v |= rng.int(4) << 16; // BSIZE
      if (rng.chance(0.2)) v |= 1 << 6; // MAC loopback
      if (rng.chance(0.1)) v |= rng.u32();
      return v >>> 0;
    }
    case REG.TCTL:
      return ((rng.chance(0.9) ? TCTL_EN : 0) | (rng.chance(0.5) ? TCTL_PSP : 0) | (rng.chance(0.1) ? rng.u32() : 0)) >>> 0;
    case REG.VET:
      return rng.pick([0x8100, 0x8100, 0x88a8, 0x0800, 0x86dd, 0, 0xffff, rng.u32() & 0xffff]);
    case REG.TDLEN:
    case REG.RDLEN:
      return rng.chance(0.7) ? rng.range(0, 64) * 128 : rng.edgy(20);
    case REG.TDBAL:
    case REG.RDBAL:
      return address(rng).low;
    case REG.TDBAH:
    case REG.RDBAH:
      return rng.chance(0.8) ? 0 : rng.edgy();
    case REG.MDIC:
      // PHY loopback on and off (BMCR), or anything.
      return rng.chance(0.5) ? (1 << 26) | (1 << 21) | rng.pick([0x4140, 0x1140, 0x8000]) : rng.u32();
    default:
      return rng.chance(0.5) ? rng.edgy(16) : rng.edgy();
  }
}

function registerOffset(rng: Rng): number {
  switch (rng.int(6)) {
    case 0:
      return rng.int(MMIO_SIZE + 8);
    case 1:
      return STATS_START + rng.int(STATS_END - STATS_START);
    case 2:
      return rng.pick(REGISTER_OFFSETS) + rng.int(4);
    default:
      return rng.pick(REGISTER_OFFSETS);
  }
}

function mmioAccess(s: Subject, rng: Rng): void {
  const size = rng.pick([1, 2, 4] as const);
  const offset = registerOffset(rng);
  if (rng.chance(0.35)) {
    s.h.r(offset, size);
  } else {
    const value = registerValue(rng, offset & ~3);
    s.h.w(offset, size === 4 || (offset & 3) === 0 ? value : value >>> (8 * (offset & 3)), size);
  }
}

function ioAccess(s: Subject, rng: Rng): void {
  const fn = s.h.fn;
  const size = rng.pick([1, 2, 4] as const);
  if (rng.chance(0.6)) {
    const target = registerOffset(rng);
    fn.write(1, 0, target, 4);
    if (rng.chance(0.5)) fn.write(1, 4, registerValue(rng, target & ~3), size);
    else fn.read(1, 4 + rng.int(4), size);
  } else {
    const offset = rng.int(IO_SIZE + 4);
    if (rng.chance(0.5)) fn.write(1, offset, rng.edgy(), size);
    else fn.read(1, offset, size);
  }
}

function macFor(s: Subject, rng: Rng): number[] {
  switch (rng.int(5)) {
    case 0:
      return [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    case 1:
      return [0x01, 0x00, 0x5e, rng.int(128), rng.int(256), rng.int(256)];
    case 2:
      return Array.from(rng.bytes(6));
    default:
      return Array.from(s.h.nic.mac);
  }
}

function frameLength(rng: Rng): number {
  switch (rng.int(6)) {
    case 0:
      return rng.int(24);
    case 1:
      return rng.range(14, 80);
    case 2:
      return rng.pick([1514, 1517, 1518, 1519, 1522, 1523, 16379, 16380, 16381, 16384]);
    case 3:
      return rng.int(16385);
    default:
      return rng.range(60, 1600);
  }
}

/** A received frame: untagged, tagged with VET (or 0x8100), double-tagged, priority-tagged, or cut short anywhere. */
function wireFrame(s: Subject, rng: Rng): Frame {
  const vet = s.h.r(REG.VET) & 0xffff;
  const tpid = rng.chance(0.8) ? vet : 0x8100;
  const kind = rng.int(6);
  if (kind === 0 && rng.chance(0.5)) {
    // A real IPv4 packet (checksums right or wrong), tagged or not.
    const vlan = rng.chance(0.4) ? rng.int(4096) : undefined;
    const packet = buildIpv4(rng.chance(0.5) ? 'tcp' : 'udp', patternBytes(rng.int(1500), rng.int(256)), { dstMac: macFor(s, rng), vlan });
    if (vlan !== undefined) packet.data.set([tpid >> 8, tpid & 0xff], 12);
    if (rng.chance(0.2)) packet.data[rng.int(packet.data.length)] ^= 1 << rng.int(8);
    return { data: packet.data };
  }
  const data = new Uint8Array(frameLength(rng)).fill(rng.int(256));
  const put = (at: number, bytes: number[]): void => {
    for (let i = 0; i < bytes.length && at + i < data.length; i++) data[at + i] = bytes[i]!;
  };
  put(0, macFor(s, rng));
  put(6, [0x02, 0, 0, 0, 0, rng.int(256)]);
  const vid = rng.chance(0.3) ? 0 : rng.int(4096);
  const tci = (rng.int(8) << 13) | vid;
  switch (kind) {
    case 1: // untagged
      put(12, [rng.pick([0x08, 0x86, 0x81, 0x88]), rng.int(256)]);
      break;
    case 2: // single tag
      put(12, [tpid >> 8, tpid & 0xff, tci >> 8, tci & 0xff, 0x08, 0x00]);
      break;
    case 3: // double tag
      put(12, [rng.chance(0.5) ? 0x88 : tpid >> 8, rng.chance(0.5) ? 0xa8 : tpid & 0xff, tci >> 8, tci & 0xff, tpid >> 8, tpid & 0xff, 0, rng.int(256), 0x08, 0x00]);
      break;
    case 4: // priority tag (VID 0)
      put(12, [tpid >> 8, tpid & 0xff, rng.int(8) << 5, 0, 0x08, 0x00]);
      break;
    default: // anything
      put(12, [rng.int(256), rng.int(256), rng.int(256), rng.int(256)]);
  }
  const frame: Frame = { data };
  if (rng.chance(0.05)) frame.csum = { start: rng.edgy(16), offset: rng.edgy(8) };
  if (rng.chance(0.03)) {
    frame.gso = { type: rng.pick<GsoType>(['tcp4', 'tcp6', 'udp4']), segmentSize: rng.edgy(16), headerLength: rng.edgy(8) };
    frame.csum ??= { start: 34, offset: 16 };
  }
  return frame;
}

/** A burst of transmit descriptors at TDT, then TDT moved past them. */
function transmitBurst(s: Subject, rng: Rng): void {
  const h = s.h;
  const m = h.memory;
  const base = h.r(REG.TDBAL);
  const count = h.r(REG.TDLEN) >>> 4;
  let tail = h.r(REG.TDT);
  const n = rng.range(1, 12);
  for (let i = 0; i < n; i++) {
    const at = base + ((count ? tail % count : tail) * 16);
    if (!m.contains(at, 16)) break;
    const { low, high } = address(rng);
    const kind = rng.int(5);
    if (kind === 0 && m.contains(low, 1600) && high === 0) {
      // A real TCP/UDP packet and a context that (mostly) agrees, so TSO gets as far as segmenting.
      const tcp = rng.chance(0.8);
      const packet = buildIpv4(tcp ? 'tcp' : 'udp', patternBytes(rng.range(1, 1500)), { dstMac: macFor(s, rng), seed: 'none' });
      if (tcp) asE1000TsoInput(packet);
      m.bytes.set(packet.data, low);
      const mss = rng.chance(0.5) ? rng.range(1, 200) : rng.edgy(16);
      const context = [packet.l3, packet.l3 + 10, packet.l4 - 1, 0, packet.l4, packet.l4 + (tcp ? 16 : 6), 0, 0];
      if (rng.chance(0.2)) context[rng.int(8)] = rng.int(256);
      const paylen = rng.chance(0.9) ? packet.data.length - packet.payload : rng.edgy(20);
      const tucmd = (tcp ? 1 : 0) | 2 | 4 | (rng.chance(0.1) ? rng.int(256) : 0);
      m.bytes.set(context, at);
      m.writeU32(at + 8, ((paylen & 0xfffff) | ((tucmd | 0x20) << 24)) >>> 0);
      m.writeU32(at + 12, ((rng.chance(0.9) ? packet.payload : rng.int(256)) << 8) | (mss << 16));
      tail = count ? (tail + 1) % count : tail + 1;
      const next = base + ((count ? tail % count : tail) * 16);
      if (!m.contains(next, 16)) break;
      m.writeU32(next, low);
      m.writeU32(next + 4, 0);
      m.writeU32(next + 8, (packet.data.length | (1 << 20) | ((0x20 | 0x04 | 0x01 | 0x08 | (rng.chance(0.3) ? 0x40 : 0)) << 24)) >>> 0);
      m.writeU32(next + 12, (3 << 8) | (rng.int(4096) << 16));
    } else {
      m.writeU32(at, low);
      m.writeU32(at + 4, high);
      const length = rng.chance(0.6) ? rng.int(1600) : rng.edgy(kind === 1 ? 16 : 20);
      let cmd = rng.int(256);
      if (rng.chance(0.7)) cmd |= 0x01; // EOP
      if (kind === 1) cmd &= ~0x20; // legacy
      else cmd |= 0x20;
      const dtyp = kind === 2 ? 0 : kind === 3 ? 1 : rng.int(16); // context, data, or a type the device does not know
      m.writeU32(at + 8, (cmd & 0x20 ? (length & 0xfffff) | (dtyp << 20) : (length & 0xffff) | (rng.int(256) << 16)) | (cmd << 24));
      m.writeU32(at + 12, rng.u32());
    }
    tail = count ? (tail + 1) % count : tail + 1;
  }
  h.w(REG.TDT, rng.chance(0.9) ? tail : rng.edgy(16));
}

/** A receive ring as the driver builds it (Harness.setupRx, with buffers inside this fuzzer's smaller RAM). */
function setupRxRing(h: Harness, count: number, rctl: number, bufferSize: number): void {
  h.setupRx(count, rctl, bufferSize);
  for (let i = 0; i < count; i++) h.memory.writeU32(RX_RING + i * 16, RX_BUFFER_AREA + i * bufferSize);
}

/** A driver-like start, so most cases get past "the rings are not set up". */
function driverSetup(s: Subject, rng: Rng): void {
  const h = s.h;
  if (rng.chance(0.1)) return;
  h.setupTx(rng.pick([8, 16, 64, 256]), TCTL_EN | (rng.chance(0.6) ? TCTL_PSP : 0));
  const bufferSize = rng.pick([2048, 2048, 256, 16384]);
  const rctl = RCTL_EN | RCTL_BAM | (bufferSize === 256 ? 3 << 16 : bufferSize === 16384 ? RCTL_BSEX | RCTL_LPE : 0) | (rng.chance(0.2) ? 1 << 6 : 0) | (rng.chance(0.3) ? RCTL_VFE : 0);
  setupRxRing(h, rng.pick([8, 16, 64]), rctl, bufferSize);
  if (rng.chance(0.7)) h.w(REG.CTRL, h.r(REG.CTRL) | CTRL_VME);
  if (rng.chance(0.3)) h.w(REG.VFTA + 4 * rng.int(128), rng.u32());
}

/** A state mutated somewhere: restoring it must succeed or throw DeviceStateError, and the device must stay usable. */
function hostileRestore(s: Subject, rng: Rng): void {
  const state = JSON.parse(JSON.stringify(s.h.nic.saveState())) as Record<string, unknown>;
  for (let n = rng.range(1, 4); n > 0; n--) mutate(state, rng);
  const victim = new Subject();
  victim.h.memory.bytes.set(s.h.memory.bytes);
  try {
    victim.h.nic.restoreState(state);
  } catch (error) {
    if (error instanceof DeviceStateError) return;
    throw error;
  }
  // Counters came from the file: only the other invariants apply from here.
  victim.accounting = false;
  for (let i = 0; i < 6; i++) {
    const action = rng.int(4);
    victim.step('after hostile restore', () => {
      if (action === 0) victim.h.w(REG.RDT, rng.edgy(16));
      else if (action === 1) victim.h.w(REG.TDT, rng.edgy(16));
      else if (action === 2) victim.h.nic.receive([wireFrame(victim, rng)]);
      else victim.h.platform.timers.advance(rng.pick([0, 1, 100]));
    });
  }
  victim.h.nic.destroy();
}

function mutate(value: unknown, rng: Rng): void {
  // Walk to a random container, then replace or delete one of its entries.
  let node = value as Record<string, unknown>;
  for (let depth = 0; depth < 4; depth++) {
    const keys = Object.keys(node);
    if (!keys.length) break;
    const key = rng.pick(keys);
    const child = node[key];
    if (typeof child === 'object' && child !== null && rng.chance(0.7)) {
      node = child as Record<string, unknown>;
      continue;
    }
    node[key] = hostileValue(rng);
    return;
  }
  const keys = Object.keys(node);
  if (keys.length) node[rng.pick(keys)] = hostileValue(rng);
}

function hostileValue(rng: Rng): unknown {
  return rng.pick<() => unknown>([
    () => rng.edgy(),
    () => -rng.edgy(),
    () => rng.edgy() * 4096,
    () => 1.5,
    () => null,
    () => undefined,
    () => 'x',
    () => '',
    () => 'AAAA',
    () => [],
    () => [rng.edgy(), rng.edgy()],
    () => ({}),
    () => true,
  ])();
}

// ---- targets ----------------------------------------------------------------------------

const device: FuzzTarget = {
  name: 'e1000.device',
  quick: 300,
  run(rng) {
    const s = new Subject();
    s.step('setup', () => driverSetup(s, rng));
    const steps = rng.range(10, 60);
    for (let i = 0; i < steps; i++) {
      const pick = rng.int(100);
      if (pick < 22) s.step('mmio', () => mmioAccess(s, rng));
      else if (pick < 30) s.step('io', () => ioAccess(s, rng));
      else if (pick < 50) s.step('transmit', () => transmitBurst(s, rng));
      else if (pick < 75) {
        const frames = Array.from({ length: rng.chance(0.8) ? 1 : rng.range(2, 40) }, () => wireFrame(s, rng));
        s.step('receive', () => s.receive(frames));
      } else if (pick < 83) s.step('timers', () => s.h.platform.timers.advance(rng.pick([0, 0.01, 1, 50, 1000])));
      else if (pick < 86) s.step('snapshot', () => s.snapshot());
      else if (pick < 88) hostileRestore(s, rng);
      else if (pick < 91) s.step('link', () => s.h.nic.setLinkUp(rng.chance(0.6)));
      else if (pick < 93) s.step('bus master', () => (s.h.fn.busMaster = rng.chance(0.8)));
      else s.step('ring tail', () => s.h.w(rng.chance(0.5) ? REG.RDT : REG.TDT, rng.chance(0.7) ? rng.int(64) : rng.edgy(16)));
    }
    s.h.nic.destroy();
  },
};

/** The receive path alone, on a well-formed ring: every length and tag class, checked against what lands in the ring. */
const receive: FuzzTarget = {
  name: 'e1000.receive',
  quick: 800,
  run(rng) {
    const s = new Subject();
    const h = s.h;
    const bufferSize = rng.pick([256, 2048, 16384]);
    const rctl = RCTL_EN | RCTL_BAM | (rng.chance(0.3) ? RCTL_UPE : 0) | (rng.chance(0.3) ? RCTL_MPE : 0) | (rng.chance(0.5) ? RCTL_LPE : 0) | (rng.chance(0.4) ? RCTL_VFE : 0) | (rng.chance(0.3) ? RCTL_SECRC : 0);
    const bsize = bufferSize === 256 ? 3 << 16 : bufferSize === 16384 ? RCTL_BSEX : 0;
    setupRxRing(h, 64, rctl | bsize, bufferSize);
    if (rng.chance(0.7)) h.w(REG.CTRL, h.r(REG.CTRL) | CTRL_VME);
    if (rng.chance(0.3)) h.w(REG.VET, rng.pick([0x88a8, 0x0800, 0]));
    for (let i = 0; i < 128; i++) h.w(REG.VFTA + 4 * i, rng.chance(0.5) ? 0xffffffff : rng.u32());
    const fcs = rctl & RCTL_SECRC ? 0 : 4;
    const frames = Array.from({ length: rng.range(1, 8) }, () => wireFrame(s, rng));
    s.step('receive', () => s.receive(frames));
    // Walk what was written: each frame's buffers, the last with EOP, at least a header after the FCS comes off.
    const written = h.r(REG.RDH);
    let total = 0;
    for (let i = 0; i < written; i++) {
      const d = h.rxDesc(i);
      check((d.status & 1) === 1, () => `descriptor ${i} without DD`);
      total += d.length;
      if (d.status & 2) {
        check(total - fcs >= 14, () => `the guest got a ${total - fcs}-byte frame`);
        total = 0;
      }
    }
    check(total === 0, () => 'the last written descriptor has no EOP');
    s.h.nic.destroy();
  },
};

export const targets: FuzzTarget[] = [device, receive];
