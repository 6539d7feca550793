// Link impairment (a filter extension), netem's knobs per port and direction:
// delay with jitter, loss, duplication, reordering, a rate limit (token
// bucket) with a queue limit, and link down. `send` impairs what the port's
// owner sends into the switch (held on ingress and resumed below this
// extension when due), `receive` what the switch delivers to the port (the
// copy is excluded on egress with `impairment-deferred` and originated again
// toward that NIC when due). Add it as the topmost filter (position 0), so
// the filters below see a sent frame when it "arrives", and on egress it is
// the last filter before delivery, as netem sits on a device's egress queue.
// On a link's port (host/lab/file/schema.ts: LINK_PORT_TYPE) the owner is the
// link: `receive` on switch A's end is what A sends over the link (A->B),
// `send` what arrives from B (B->A).
//
// Time is the switch's clock and timers (context.timers: a FakeClock in
// tests); randomness a seeded generator, so a run is repeatable. With no
// impairment set on any port, ingress and egress return at their first test.
//
// Drain: a sent frame waiting in a delay or rate queue is a held frame, so it
// references its NIC like any frame in flight. When a NIC disconnects, both
// of its port's queues are dropped with `impairment-flushed` (netem's queue
// reset when a device goes down), so NIC_DELETE never waits out a long rate
// queue or its drain timeout; frames still on the wire toward a NIC that is
// gone could not be delivered anyway.
import type { Frame } from '../../emulator/net/frame.ts';
import type { EgressBatch, Extension, ExtensionContext, HeldFrame, IngressBatch } from '../extension.ts';
import type { OidRequest, OidStatus } from '../oid.ts';
import type { TimerId } from '../clock.ts';
import { EXTENSION_DROP_REASONS } from '../drop-reasons.ts';
import type { Impairment } from '../lab/file/schema.ts';

export type { Impairment };

/** A port's two directions; null: none. */
export interface PortImpairment {
  /** What the port's owner sends into the switch. */
  send: Impairment | null;
  /** What the switch delivers to the port. */
  receive: Impairment | null;
}

export interface ImpairmentOptions {
  name?: string;
  /** Seed of the generator behind loss, duplication, reordering and jitter (default 1). */
  seed?: number;
}

/** What happened to frames in one direction of one port. */
export interface ImpairmentCounters {
  /** Went on at once (no delay due, nothing queued ahead). */
  passed: number;
  /** Entered the delay/rate queue. */
  queued: number;
  /** Left the queue when due. */
  released: number;
  lost: number;
  /** Extra copies made. */
  duplicated: number;
  /** Sent ahead of the queue by the reorder percentage. */
  reordered: number;
  queueFull: number;
  /** Dropped because the link was down. */
  down: number;
  /** Dropped from the queue (NIC disconnected, link set down, extension removed), or refused when due. */
  flushed: number;
}

/** netem's default queue limit, used when `limitFrames` is 0. */
export const DEFAULT_LIMIT_FRAMES = 1000;

/** The token bucket's depth: one full-size Ethernet frame (a rate limit with next to no burst, as netem's rate). */
const BUCKET_BITS = 1514 * 8;

/** A queued frame: a held one (sent direction), or a copy to originate (duplicates, received direction). */
interface Entry {
  at: number;
  held: HeldFrame | null;
  frame: Frame;
  vlan: number;
  /** Source NIC (0/0: port 0). */
  srcPort: number;
  srcNic: number;
  /** Received direction: the NIC it goes to. */
  dstPort: number;
  dstNic: number;
}

class Lane {
  /** null: no impairment any more, but frames still queued (new ones queue behind them, in order). */
  config: Impairment | null;
  readonly queue: Entry[] = [];
  head = 0;
  timer: TimerId = 0;
  lastDepart = -Infinity;
  tokens = BUCKET_BITS;
  tokenTime = -Infinity;
  readonly counters: ImpairmentCounters = { passed: 0, queued: 0, released: 0, lost: 0, duplicated: 0, reordered: 0, queueFull: 0, down: 0, flushed: 0 };

  constructor(config: Impairment) {
    this.config = config;
  }

  get length(): number {
    return this.queue.length - this.head;
  }

  get limit(): number {
    const l = this.config?.limitFrames ?? 0;
    return l > 0 ? l : DEFAULT_LIMIT_FRAMES;
  }

  shift(): Entry {
    const e = this.queue[this.head]!;
    this.queue[this.head++] = undefined as unknown as Entry;
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    return e;
  }
}

/** mulberry32: small, fast and seeded (the fuzz harness's generator). */
class SeededRandom {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

/** The reason set() refuses an impairment. */
export function impairmentProblem(value: unknown): string | null {
  if (value === null || typeof value !== 'object') return 'an impairment must be an object';
  const v = value as Record<string, unknown>;
  const nonNegative = ['delayMs', 'jitterMs', 'rateBitsPerSecond', 'limitFrames'] as const;
  for (const key of nonNegative) {
    const x = v[key] ?? 0;
    if (typeof x !== 'number' || !Number.isFinite(x) || x < 0) return `${key} must be a finite number >= 0`;
  }
  if (!Number.isInteger(v.limitFrames ?? 0)) return 'limitFrames must be an integer';
  for (const key of ['lossPercent', 'duplicatePercent', 'reorderPercent'] as const) {
    const x = v[key] ?? 0;
    if (typeof x !== 'number' || !(x >= 0 && x <= 100)) return `${key} must be a number 0..100`;
  }
  if (v.down !== undefined && typeof v.down !== 'boolean') return 'down must be true or false';
  return null;
}

function normalise(value: Partial<Impairment>): Impairment {
  const problem = impairmentProblem(value);
  if (problem) throw new RangeError(`impairment: ${problem}`);
  return Object.freeze({
    delayMs: value.delayMs ?? 0,
    jitterMs: value.jitterMs ?? 0,
    lossPercent: value.lossPercent ?? 0,
    duplicatePercent: value.duplicatePercent ?? 0,
    reorderPercent: value.reorderPercent ?? 0,
    rateBitsPerSecond: value.rateBitsPerSecond ?? 0,
    limitFrames: value.limitFrames ?? 0,
    down: value.down === true,
  });
}

function isNone(i: Impairment): boolean {
  return (
    i.delayMs === 0 && i.jitterMs === 0 && i.lossPercent === 0 && i.duplicatePercent === 0 && i.reorderPercent === 0 && i.rateBitsPerSecond === 0 && !i.down
  );
}

const R = EXTENSION_DROP_REASONS;
/** slot()'s answers besides a time. */
const GOES_ON = -Infinity;
const QUEUE_FULL = Infinity;

function sameRun(a: Entry, b: Entry): boolean {
  return a.dstPort === b.dstPort && a.dstNic === b.dstNic && a.vlan === b.vlan && a.srcPort === b.srcPort && a.srcNic === b.srcNic;
}

export class ImpairmentExtension implements Extension {
  readonly name: string;
  readonly kind = 'filter' as const;
  private context: ExtensionContext | null = null;
  private readonly random: SeededRandom;
  /** Per port id. A lane exists while its direction is impaired or still has frames queued. */
  private readonly sendLanes = new Map<number, Lane>();
  private readonly receiveLanes = new Map<number, Lane>();
  /** Settings as set (a lane may outlive its setting while it drains). */
  private readonly settings = new Map<number, PortImpairment>();
  /** Counters of lanes that were removed, so counters() keeps counting across set/clear. */
  private readonly retired = new Map<string, ImpairmentCounters>();
  /** Copies this extension originates toward a receive-impaired NIC: not impaired a second time on egress. */
  private readonly released = new WeakSet<Frame>();
  /** Scratch of decide(): why the frame is dropped. */
  private dropReason: string = R.impairmentLoss;

  constructor(options: ImpairmentOptions = {}) {
    this.name = options.name ?? 'impairment';
    this.random = new SeededRandom(options.seed ?? 1);
  }

  attach(context: ExtensionContext): void {
    this.context = context;
  }

  detach(): void {
    for (const [portId] of this.sendLanes) this.flushLane(this.sendLanes, portId);
    for (const [portId] of this.receiveLanes) this.flushLane(this.receiveLanes, portId);
    this.context = null;
  }

  /**
   * Sets a port's impairment, while running too: `undefined` leaves a
   * direction as it is, `null` removes it. Frames already queued keep their
   * times; new ones follow the new setting (behind them: no reordering by a
   * change). Setting `down` drops what is queued in that direction.
   */
  set(portId: number, update: { send?: Impairment | Partial<Impairment> | null; receive?: Impairment | Partial<Impairment> | null }): void {
    if (!Number.isInteger(portId) || portId <= 0) throw new RangeError(`impairment: port id ${portId} must be an integer > 0`);
    const current = this.settings.get(portId) ?? { send: null, receive: null };
    const send = update.send === undefined ? current.send : update.send === null ? null : normalise(update.send);
    const receive = update.receive === undefined ? current.receive : update.receive === null ? null : normalise(update.receive);
    this.apply(this.sendLanes, portId, send, 'send');
    this.apply(this.receiveLanes, portId, receive, 'receive');
    if (send === null && receive === null) this.settings.delete(portId);
    else this.settings.set(portId, { send, receive });
  }

  get(portId: number): PortImpairment {
    const s = this.settings.get(portId);
    return { send: s?.send ?? null, receive: s?.receive ?? null };
  }

  clear(portId: number): void {
    this.set(portId, { send: null, receive: null });
  }

  /** Ports with an impairment set. */
  ports(): number[] {
    return [...this.settings.keys()];
  }

  counters(portId: number): { send: ImpairmentCounters; receive: ImpairmentCounters } {
    return { send: this.laneCounters(this.sendLanes, portId, 'send'), receive: this.laneCounters(this.receiveLanes, portId, 'receive') };
  }

  /** Frames queued in a port's directions (or in all). */
  queued(portId?: number): number {
    let n = 0;
    for (const lanes of [this.sendLanes, this.receiveLanes]) {
      for (const [id, lane] of lanes) if (portId === undefined || id === portId) n += lane.length;
    }
    return n;
  }

  oidComplete(request: OidRequest, status: OidStatus): void {
    if (status !== 'success') return;
    if (request.oid === 'OID_SWITCH_NIC_DISCONNECT') {
      this.flushLane(this.sendLanes, request.port.id);
      this.flushLane(this.receiveLanes, request.port.id);
    } else if (request.oid === 'OID_SWITCH_PORT_DELETE') {
      // A later port with the same id starts unimpaired.
      this.flushLane(this.sendLanes, request.port.id);
      this.flushLane(this.receiveLanes, request.port.id);
      this.sendLanes.delete(request.port.id);
      this.receiveLanes.delete(request.port.id);
      this.refreshHooks();
      this.settings.delete(request.port.id);
      this.retired.delete(`send:${request.port.id}`);
      this.retired.delete(`receive:${request.port.id}`);
    }
  }

  /**
   * The data path skips an extension without an ingress (egress) callback, so
   * these are present only while some port has a send (receive) lane: with no
   * impairment set the extension costs nothing per batch.
   */
  ingress: ((batch: IngressBatch) => void) | undefined = undefined;
  egress: ((batch: EgressBatch) => void) | undefined = undefined;
  private readonly ingressHook = (batch: IngressBatch): void => this.onIngress(batch);
  private readonly egressHook = (batch: EgressBatch): void => this.onEgress(batch);

  private refreshHooks(): void {
    this.ingress = this.sendLanes.size > 0 ? this.ingressHook : undefined;
    this.egress = this.receiveLanes.size > 0 ? this.egressHook : undefined;
  }

  private onIngress(batch: IngressBatch): void {
    const context = this.context;
    if (!context) return;
    const now = batch.time;
    // A batch from a port has one source: look its lane up once.
    let lastPort = -1;
    let lane: Lane | undefined;
    for (let i = 0; i < batch.count; i++) {
      if (batch.isDropped(i)) continue;
      const portId = batch.sourcePortId(i);
      if (portId !== lastPort) {
        lane = this.sendLanes.get(portId);
        lastPort = portId;
      }
      if (lane === undefined) continue;
      const frame = batch.frame(i) as Frame;
      const copies = this.decide(lane, now);
      if (copies === 0) {
        batch.drop(i, this.dropReason);
        continue;
      }
      const src = batch.source(i);
      for (let c = 0; c < copies; c++) {
        const at = this.slot(lane, now, frame.data.length);
        if (at === GOES_ON) {
          // It goes on in this batch; a duplicate right after it.
          if (c > 0) this.emitSent(lane, frame, src ? src.portId : 0, src ? src.index : 0, batch.vlan(i));
          continue;
        }
        if (at === QUEUE_FULL) {
          if (c === 0) batch.drop(i, R.impairmentQueueFull);
          continue;
        }
        const entry: Entry = {
          at,
          held: c === 0 ? batch.hold(i) : null,
          frame,
          vlan: batch.vlan(i),
          srcPort: src ? src.portId : 0,
          srcNic: src ? src.index : 0,
          dstPort: 0,
          dstNic: 0,
        };
        this.enqueue(lane, entry, this.sendLanes, batch.sourcePortId(i));
      }
    }
  }

  private onEgress(batch: EgressBatch): void {
    const context = this.context;
    if (!context) return;
    const now = batch.time;
    let lastPort = -1;
    let lastLane: Lane | undefined;
    for (let i = 0; i < batch.count; i++) {
      if (batch.isDropped(i)) continue;
      const frame = batch.frame(i) as Frame;
      if (batch.injected(i) && this.released.has(frame)) continue;
      for (let d = batch.firstDestination(i); d >= 0; d = batch.nextDestination(d)) {
        if (batch.excluded(d) !== null) continue;
        const nic = batch.destination(d);
        if (nic.portId !== lastPort) {
          lastLane = this.receiveLanes.get(nic.portId);
          lastPort = nic.portId;
        }
        const lane = lastLane;
        if (lane === undefined) continue;
        const copies = this.decide(lane, now);
        if (copies === 0) {
          batch.exclude(d, this.dropReason);
          continue;
        }
        const src = batch.source(i);
        for (let c = 0; c < copies; c++) {
          const at = this.slot(lane, now, frame.data.length);
          if (at === GOES_ON) {
            if (c > 0) this.emitReceived(lane, [this.mark(frame)], src ? src.portId : 0, src ? src.index : 0, nic.portId, nic.index, batch.vlan(i));
            continue;
          }
          if (at === QUEUE_FULL) {
            if (c === 0) batch.exclude(d, R.impairmentQueueFull);
            continue;
          }
          if (c === 0) batch.exclude(d, R.impairmentDeferred);
          const entry: Entry = {
            at,
            held: null,
            frame,
            vlan: batch.vlan(i),
            srcPort: src ? src.portId : 0,
            srcNic: src ? src.index : 0,
            dstPort: nic.portId,
            dstNic: nic.index,
          };
          this.enqueue(lane, entry, this.receiveLanes, nic.portId);
        }
      }
    }
  }

  // ---- internals ------------------------------------------------------------

  /** Copies of an arriving frame: 0 (dropped: reason in dropReason), 1, or 2 (duplicated). */
  private decide(lane: Lane, now: number): number {
    const config = lane.config;
    if (config === null) return 1;
    if (config.down) {
      lane.counters.down++;
      this.dropReason = R.linkDown;
      return 0;
    }
    if (config.lossPercent > 0 && this.random.next() * 100 < config.lossPercent) {
      lane.counters.lost++;
      this.dropReason = R.impairmentLoss;
      return 0;
    }
    if (config.duplicatePercent > 0 && this.random.next() * 100 < config.duplicatePercent) {
      lane.counters.duplicated++;
      return 2;
    }
    void now;
    return 1;
  }

  /**
   * Where one copy of an arriving frame goes (counted): GOES_ON (due now with
   * nothing queued ahead, or sent ahead by reordering), QUEUE_FULL, or the
   * time it is queued for.
   */
  private slot(lane: Lane, now: number, bytes: number): number {
    const at = this.depart(lane, now, bytes);
    if (at <= now && (lane.length === 0 || at < 0)) {
      if (at < 0) lane.counters.reordered++;
      else lane.counters.passed++;
      return GOES_ON;
    }
    if (lane.length >= lane.limit) {
      lane.counters.queueFull++;
      return QUEUE_FULL;
    }
    return Math.max(at, now);
  }

  /**
   * When a frame of `bytes` arriving now may leave: -1 when reordering sends
   * it ahead at once, otherwise delay +- jitter, never before the frame ahead
   * (jitter does not reorder), then the token bucket.
   */
  private depart(lane: Lane, now: number, bytes: number): number {
    const config = lane.config;
    // No impairment any more, frames still queued: behind them, no later.
    if (config === null) return lane.lastDepart > now ? lane.lastDepart : now;
    if (config.reorderPercent > 0 && config.delayMs > 0 && this.random.next() * 100 < config.reorderPercent) return -1;
    let at = now + config.delayMs;
    if (config.jitterMs > 0) at += config.jitterMs * (2 * this.random.next() - 1);
    if (at < now) at = now;
    if (at < lane.lastDepart) at = lane.lastDepart;
    const rate = config.rateBitsPerSecond;
    if (rate > 0) {
      // Tokens accrue from the last departure to this one's start; a frame bigger than what is there waits for its own bits.
      const elapsed = lane.tokenTime === -Infinity ? Infinity : at - lane.tokenTime;
      lane.tokens = Math.min(BUCKET_BITS, lane.tokens + (elapsed * rate) / 1000);
      lane.tokens -= bytes * 8;
      if (lane.tokens < 0) {
        at += (-lane.tokens * 1000) / rate;
        lane.tokens = 0;
      }
      lane.tokenTime = at;
    }
    lane.lastDepart = at;
    return at;
  }

  private enqueue(lane: Lane, entry: Entry, lanes: Map<number, Lane>, portId: number): void {
    lane.queue.push(entry);
    lane.counters.queued++;
    if (lane.timer === 0 && this.context) {
      const context = this.context;
      lane.timer = context.timers.schedule(lane.queue[lane.head]!.at, () => this.release(lanes, portId, lane));
    }
  }

  /** The lane's timer: everything due goes on, in order; received copies toward one NIC in one injection. */
  private release(lanes: Map<number, Lane>, portId: number, lane: Lane): void {
    lane.timer = 0;
    const context = this.context;
    if (!context || lanes.get(portId) !== lane) return;
    const now = context.now();
    let run: Frame[] | null = null;
    let first: Entry | null = null;
    while (lane.length > 0 && lane.queue[lane.head]!.at <= now) {
      const e = lane.shift();
      if (e.held) {
        context.resume(e.held);
        lane.counters.released++;
      } else if (lanes === this.sendLanes) {
        this.emitSent(lane, e.frame, e.srcPort, e.srcNic, e.vlan);
      } else {
        if (first !== null && !sameRun(first, e)) {
          this.emitReceived(lane, run!, first.srcPort, first.srcNic, first.dstPort, first.dstNic, first.vlan);
          run = null;
        }
        if (run === null) first = e;
        (run ??= []).push(this.mark(e.frame));
      }
    }
    if (run !== null && first !== null) this.emitReceived(lane, run, first.srcPort, first.srcNic, first.dstPort, first.dstNic, first.vlan);
    if (lane.length > 0) {
      lane.timer = context.timers.schedule(lane.queue[lane.head]!.at, () => this.release(lanes, portId, lane));
    } else if (lane.config === null) {
      this.retire(lanes, portId, lane);
    }
  }

  /** A copy of a sent frame (a duplicate): originated on behalf of its NIC, below this extension. */
  private emitSent(lane: Lane, frame: Frame, srcPort: number, srcNic: number, vlan: number): void {
    const context = this.context!;
    const result = context.inject([frame], srcPort > 0 ? { source: { portId: srcPort, nicIndex: srcNic } } : { vlan });
    if (result.accepted) lane.counters.released++;
    else lane.counters.flushed++;
  }

  /** Frames a port receives late (or twice): originated toward its NIC, on behalf of their source while it is connected (so filters below see the same source). */
  private emitReceived(lane: Lane, frames: Frame[], srcPort: number, srcNic: number, dstPort: number, dstNic: number, vlan: number): void {
    const context = this.context!;
    const source = srcPort > 0 && context.nic(srcPort, srcNic)?.state === 'connected' ? { portId: srcPort, nicIndex: srcNic } : undefined;
    const result = context.inject(frames, { destination: { portId: dstPort, nicIndex: dstNic }, ...(source ? { source } : { vlan }) });
    if (result.accepted) lane.counters.released += frames.length;
    else lane.counters.flushed += frames.length;
  }

  /** A fresh object per copy marks it as this extension's own on its way back up (not impaired twice). */
  private mark(frame: Frame): Frame {
    const copy: Frame = { ...frame };
    this.released.add(copy);
    return copy;
  }

  private apply(lanes: Map<number, Lane>, portId: number, config: Impairment | null, direction: 'send' | 'receive'): void {
    const lane = lanes.get(portId);
    const effective = config && !isNone(config) ? config : config && config.limitFrames > 0 ? config : null;
    if (lane === undefined) {
      if (effective) {
        const fresh = new Lane(effective);
        const old = this.retired.get(`${direction}:${portId}`);
        if (old) {
          Object.assign(fresh.counters, old);
          this.retired.delete(`${direction}:${portId}`);
        }
        lanes.set(portId, fresh);
        this.refreshHooks();
      }
      return;
    }
    lane.config = effective;
    if (effective?.down) this.dropQueued(lane, R.linkDown, true);
    if (effective === null && lane.length === 0) this.retire(lanes, portId, lane);
  }

  private retire(lanes: Map<number, Lane>, portId: number, lane: Lane): void {
    if (lane.timer !== 0) this.context?.timers.cancel(lane.timer);
    lane.timer = 0;
    lanes.delete(portId);
    this.refreshHooks();
    this.retired.set(`${lanes === this.sendLanes ? 'send' : 'receive'}:${portId}`, { ...lane.counters });
  }

  private flushLane(lanes: Map<number, Lane>, portId: number): void {
    const lane = lanes.get(portId);
    if (!lane) return;
    this.dropQueued(lane, R.impairmentFlushed, false);
    if (lane.config === null) this.retire(lanes, portId, lane);
  }

  /** Drops every queued frame of the lane (held ones through the switch, so they are counted on their port). */
  private dropQueued(lane: Lane, reason: string, down: boolean): void {
    if (lane.timer !== 0) this.context?.timers.cancel(lane.timer);
    lane.timer = 0;
    while (lane.length > 0) {
      const e = lane.shift();
      if (down) lane.counters.down++;
      else lane.counters.flushed++;
      if (e.held && this.context) this.context.dropHeld(e.held, reason);
    }
    lane.lastDepart = -Infinity;
  }

  private laneCounters(lanes: Map<number, Lane>, portId: number, direction: string): ImpairmentCounters {
    const lane = lanes.get(portId);
    if (lane) return { ...lane.counters };
    const old = this.retired.get(`${direction}:${portId}`);
    return old ? { ...old } : { passed: 0, queued: 0, released: 0, lost: 0, duplicated: 0, reordered: 0, queueFull: 0, down: 0, flushed: 0 };
  }
}
