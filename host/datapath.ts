// The data path: batches of frames go down the stack (ingress, source only),
// get destinations from the forwarding extension (or the switch's own flood
// when there is none), come back up (egress, filters may exclude) and are
// delivered, one FrameSink call per destination NIC per batch. Synchronous:
// work arriving while a batch runs (injections, resumed frames, a sink that
// transmits straight back) is queued and run right after, never re-entered.
import type { Frame } from '../emulator/net/frame.ts';
import { sameMac } from '../emulator/net/frame.ts';
import type { Emitter, SwitchEvents } from './events.ts';
import type { SwitchCounters } from './counters.ts';
import { bump } from './counters.ts';
import {
  INJECTION_REFUSALS,
  SWITCH_DROP_REASONS,
  extensionErrorReason,
  type DropReason,
  type ExtensionDropReason,
  type InjectionRefusal,
  type SwitchDropReason,
} from './drop-reasons.ts';
import type { ExtensionStack } from './stack.ts';
import type {
  EgressBatch,
  Extension,
  ExtensionKind,
  HeldFrame,
  IngressBatch,
  InjectOptions,
  InjectResult,
} from './extension.ts';
import { CapabilityError } from './extension.ts';
import type { Nic, NicInfo } from './nic.ts';
import { frameProblem } from './validate.ts';
import { DEFAULT_VLAN, egressProblem, frameForEgress, frameTci } from './extensions/vlan.ts';

/** What the data path needs from the switch. */
export interface DataPathHost {
  readonly now: () => number;
  readonly events: Emitter<SwitchEvents>;
  readonly counters: SwitchCounters;
  readonly stack: ExtensionStack;
  connectedNics(): readonly Nic[];
  findNic(portId: number, nicIndex: number): Nic | undefined;
  extensionError(extension: Extension, phase: string, error: unknown): void;
}

/** Marks a frame taken out of the batch by hold(): neither dropped nor forwarded. */
const HELD = '\u0000held';

class Held implements HeldFrame {
  done = false;
  constructor(
    readonly frame: Frame,
    readonly nic: Nic | null,
    readonly vlan: number,
    readonly injectedFlag: boolean,
    readonly holder: Extension,
  ) {}
  get sourcePortId(): number {
    return this.nic ? this.nic.port.id : 0;
  }
  get sourceNicIndex(): number {
    return this.nic ? this.nic.index : 0;
  }
}

type Work =
  | { type: 'port'; nic: Nic; frames: readonly Frame[] }
  | { type: 'inject'; start: number; frames: readonly Frame[]; source: Nic | null; destination: Nic | null; vlan: number | undefined }
  | { type: 'resume'; held: Held; start: number };

/** One batch's state in parallel arrays, reused from batch to batch. */
class Batch {
  count = 0;
  time = 0;
  frames: Frame[] = [];
  src: (Nic | null)[] = [];
  vlans: number[] = [];
  /** Why frame i is dropped, HELD, or null. */
  dropped: (DropReason | null)[] = [];
  injected: boolean[] = [];
  head: number[] = [];
  tail: number[] = [];
  dCount = 0;
  dNic: Nic[] = [];
  dNext: number[] = [];
  dExcluded: (DropReason | null)[] = [];

  reset(time: number): void {
    for (let i = 0; i < this.count; i++) {
      this.frames[i] = undefined as unknown as Frame;
      this.src[i] = null;
    }
    for (let d = 0; d < this.dCount; d++) this.dNic[d] = undefined as unknown as Nic;
    this.count = 0;
    this.dCount = 0;
    this.time = time;
  }

  push(frame: Frame, src: Nic | null, vlan: number, injected: boolean): number {
    const i = this.count++;
    this.frames[i] = frame;
    this.src[i] = src;
    this.vlans[i] = vlan;
    this.dropped[i] = null;
    this.injected[i] = injected;
    this.head[i] = -1;
    this.tail[i] = -1;
    return i;
  }

  addDestination(i: number, nic: Nic): void {
    const d = this.dCount++;
    this.dNic[d] = nic;
    this.dNext[d] = -1;
    this.dExcluded[d] = null;
    if (this.tail[i]! < 0) this.head[i] = d;
    else this.dNext[this.tail[i]!] = d;
    this.tail[i] = d;
  }
}

/** The one view object handed to extensions, rebound per extension and phase (no per-call allocation). */
class View implements IngressBatch, EgressBatch {
  b!: Batch;
  extension!: Extension;
  kind: ExtensionKind = 'capture';
  phase: 'ingress' | 'egress' = 'ingress';
  /** True only during an extension's callback: a view kept for later cannot touch another batch. */
  live = false;
  /**
   * The NIC addDestination last found to be this switch's, within the current
   * callback (reset by open()). Frames of a batch mostly go to one NIC, and a
   * NIC leaves the switch only in an OID's completion, never during a
   * synchronous callback: the same handle found once stays found.
   */
  private verified: Nic | null = null;
  constructor(private readonly path: DataPath) {}

  get count(): number {
    return this.b.count;
  }
  get time(): number {
    return this.b.time;
  }
  frame(i: number): Frame {
    return this.b.frames[i]!;
  }
  sourcePortId(i: number): number {
    const nic = this.b.src[i];
    return nic ? nic.port.id : 0;
  }
  source(i: number): NicInfo | null {
    return this.b.src[i] ?? null;
  }
  vlan(i: number): number {
    return this.b.vlans[i]!;
  }
  injected(i: number): boolean {
    return this.b.injected[i]!;
  }
  isDropped(i: number): boolean {
    return this.b.dropped[i] !== null;
  }
  firstDestination(i: number): number {
    return this.b.head[i]!;
  }
  nextDestination(slot: number): number {
    return this.b.dNext[slot]!;
  }
  destination(slot: number): NicInfo {
    return this.b.dNic[slot]!;
  }
  excluded(slot: number): DropReason | null {
    return this.b.dExcluded[slot]!;
  }

  drop(i: number, reason: ExtensionDropReason): void {
    if (this.kind === 'capture') throw new CapabilityError(this.extension.name, this.kind, 'drop frames');
    this.checkIndex(i);
    if (this.b.dropped[i] === null) this.b.dropped[i] = String(reason);
  }

  replace(i: number, frame: Frame): void {
    if (this.kind === 'capture') throw new CapabilityError(this.extension.name, this.kind, 'modify frames');
    if (this.phase !== 'ingress') throw new CapabilityError(this.extension.name, this.kind, 'modify frames on egress');
    this.checkIndex(i);
    if (!frame || !(frame.data instanceof Uint8Array)) throw new TypeError('replace: not a frame');
    this.b.frames[i] = frame;
  }

  addDestination(i: number, nic: NicInfo): void {
    if (this.kind !== 'forwarding') throw new CapabilityError(this.extension.name, this.kind, 'add destinations');
    if (this.phase !== 'ingress') throw new CapabilityError(this.extension.name, this.kind, 'add destinations on egress');
    this.checkIndex(i);
    let real = this.verified;
    if (nic !== real) {
      // Only NICs of this switch are valid destinations (a stale or foreign handle is the extension's bug).
      real = this.path.host.findNic(nic.portId, nic.index) ?? null;
      if (real !== nic || real === null) throw new Error(`addDestination: port ${nic.portId} NIC ${nic.index} is not a NIC of this switch`);
      this.verified = real;
    }
    this.b.addDestination(i, real);
  }

  /** Binds the view to `extension`'s callback in the current phase. */
  open(extension: Extension): void {
    this.extension = extension;
    this.kind = extension.kind;
    this.verified = null;
    this.live = true;
  }

  exclude(slot: number, reason: ExtensionDropReason): void {
    if (this.kind === 'capture') throw new CapabilityError(this.extension.name, this.kind, 'exclude destinations');
    if (this.phase !== 'egress') throw new CapabilityError(this.extension.name, this.kind, 'exclude destinations on ingress');
    if (!this.live) throw new Error('a batch view is only valid during the callback it was passed to');
    if (!(slot >= 0 && slot < this.b.dCount)) throw new RangeError(`no destination slot ${slot}`);
    if (this.b.dExcluded[slot] === null) this.b.dExcluded[slot] = String(reason);
  }

  hold(i: number): HeldFrame {
    if (this.kind === 'capture') throw new CapabilityError(this.extension.name, this.kind, 'hold frames');
    if (this.phase !== 'ingress') throw new CapabilityError(this.extension.name, this.kind, 'hold frames on egress');
    this.checkIndex(i);
    if (this.b.dropped[i] !== null) throw new Error(`hold: frame ${i} is already dropped or held`);
    if (this.b.head[i]! >= 0) throw new Error(`hold: frame ${i} already has destinations`);
    this.b.dropped[i] = HELD;
    const nic = this.b.src[i] ?? null;
    const held = new Held(this.b.frames[i]!, nic, this.b.vlans[i]!, this.b.injected[i]!, this.extension);
    if (nic) nic.inflight++;
    this.path.host.counters.heldFrames++;
    return held;
  }

  private checkIndex(i: number): void {
    if (!this.live) throw new Error('a batch view is only valid during the callback it was passed to');
    if (!(i >= 0 && i < this.b.count)) throw new RangeError(`no frame ${i} in a batch of ${this.b.count}`);
  }
}

export class DataPath {
  private readonly batch = new Batch();
  private readonly view: View;
  private readonly queue: Work[] = [];
  private busy = false;
  /** NICs with frames waiting in their outbox during delivery (the first ones of the array; emptied slot by slot, never truncated). */
  private readonly touched: (Nic | null)[] = [];
  /** Drop events of the current work item, by port/NIC/reason. */
  private readonly dropTally = new Map<string, { portId: number; nicIndex?: number; reason: DropReason; count: number }>();

  constructor(readonly host: DataPathHost) {
    this.view = new View(this);
  }

  /** Frames from a NIC (the guest transmitted them). */
  ingress(nic: Nic, frames: readonly Frame[]): void {
    if (this.busy) {
      this.queue.push({ type: 'port', nic, frames });
      return;
    }
    // The common case, without a queue entry.
    this.busy = true;
    try {
      this.runPort(nic, frames);
      while (this.queue.length) this.run(this.queue.shift()!);
    } finally {
      this.busy = false;
    }
  }

  /** Frames originated by an extension (context.inject). */
  inject(extension: Extension, frames: readonly Frame[], options: InjectOptions | undefined): InjectResult {
    const host = this.host;
    const refuse = (reason: InjectionRefusal): InjectResult => {
      bump(host.counters.refusedInjections, reason, frames.length || 1);
      return { accepted: false, reason };
    };
    if (!Array.isArray(frames)) return refuse(INJECTION_REFUSALS.notAFrameArray);
    let source: Nic | null = null;
    let destination: Nic | null = null;
    if (options?.source) {
      const nic = host.findNic(options.source.portId, options.source.nicIndex);
      if (!nic || nic.state !== 'connected') return refuse(INJECTION_REFUSALS.sourceNotConnected);
      source = nic;
    }
    if (options?.destination) {
      if (extension.kind === 'capture') return refuse(INJECTION_REFUSALS.destinationNotAllowedForCapture);
      const nic = host.findNic(options.destination.portId, options.destination.nicIndex);
      if (!nic || nic.state !== 'connected') return refuse(INJECTION_REFUSALS.destinationNotConnected);
      destination = nic;
    }
    const position = host.stack.indexOf(extension);
    if (position < 0) return refuse(INJECTION_REFUSALS.extensionNotInStack);
    this.submit({ type: 'inject', start: position + 1, frames, source, destination, vlan: options?.vlan });
    return { accepted: true };
  }

  resume(extension: Extension, held: HeldFrame): void {
    const h = this.checkHeld(extension, held);
    h.done = true;
    this.host.counters.heldFrames--;
    const position = this.host.stack.indexOf(h.holder);
    // A filter's frame continues below it; the forwarding extension held it before deciding, so it decides again.
    const start = position < 0 ? this.firstBelowCaptures() : h.holder.kind === 'forwarding' ? position : position + 1;
    this.submit({ type: 'resume', held: h, start });
  }

  dropHeld(extension: Extension, held: HeldFrame, reason: ExtensionDropReason): void {
    const h = this.checkHeld(extension, held);
    h.done = true;
    const counters = this.host.counters;
    counters.heldFrames--;
    counters.droppedFrames++;
    this.countDrop(h.nic, String(reason), 1);
    this.flushDropEvents();
    if (h.nic) this.releaseInflight(h.nic, 1);
  }

  private checkHeld(extension: Extension, held: HeldFrame): Held {
    if (!(held instanceof Held)) throw new TypeError('not a held frame of this switch');
    if (held.done) throw new Error('this held frame was already resumed or dropped');
    if (held.holder !== extension) throw new Error(`frame held by ${held.holder.name}, not ${extension.name}`);
    return held;
  }

  private firstBelowCaptures(): number {
    const ordered = this.host.stack.ordered;
    let i = 0;
    while (i < ordered.length && ordered[i]!.kind === 'capture') i++;
    return i;
  }

  private submit(work: Work): void {
    this.queue.push(work);
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.queue.length) this.run(this.queue.shift()!);
    } finally {
      this.busy = false;
    }
  }

  private run(work: Work): void {
    if (work.type === 'port') {
      this.runPort(work.nic, work.frames);
      return;
    }
    const host = this.host;
    const counters = host.counters;
    const b = this.batch;
    b.reset(host.now());
    let start: number;
    let inflightNic: Nic | null;
    if (work.type === 'inject') {
      start = work.start;
      const source = work.source;
      const n = work.frames.length;
      counters.ingressFrames += n;
      counters.injectedFrames += n;
      for (let i = 0; i < n; i++) {
        const frame = work.frames[i]!;
        const problem =
          frame && frame.data instanceof Uint8Array ? frameProblem(frame, source ? source.mtu : 65535 - 18) : SWITCH_DROP_REASONS.notAFrame;
        let vlan = DEFAULT_VLAN;
        let reason: SwitchDropReason | null = problem;
        if (reason === null) {
          if (source) {
            const cls = source.port.vlan.classify(frame.data);
            if (typeof cls === 'string') reason = cls;
            else vlan = cls;
          } else {
            const tci = frameTci(frame.data);
            vlan = work.vlan ?? (tci > 0 && (tci & 0xfff) !== 0 ? tci & 0xfff : DEFAULT_VLAN);
          }
        }
        if (reason !== null) {
          counters.droppedFrames++;
          this.countDrop(source, reason, 1);
          continue;
        }
        const i2 = b.push(frame, source, vlan, true);
        if (work.destination) b.addDestination(i2, work.destination);
      }
      inflightNic = source;
    } else {
      const h = work.held;
      start = work.start;
      b.push(h.frame, h.nic, h.vlan, h.injectedFlag);
      // The held frame's reference moves to this batch.
      if (h.nic) h.nic.inflight--;
      inflightNic = h.nic;
    }
    this.processCounted(b, start, inflightNic);
  }

  /** Frames from a NIC: counted, validated and classified at the port, then down the stack. */
  private runPort(nic: Nic, frames: readonly Frame[]): void {
    const counters = this.host.counters;
    const b = this.batch;
    b.reset(this.host.now());
    const port = nic.port;
    const pc = port.counters;
    const n = frames.length;
    counters.ingressFrames += n;
    if (nic.state !== 'connected') {
      for (let i = 0; i < n; i++) {
        pc.rxPackets++;
        pc.rxBytes += frames[i]?.data?.length ?? 0;
      }
      counters.droppedFrames += n;
      this.countDrop(nic, SWITCH_DROP_REASONS.nicNotConnected, n);
      this.flushDropEvents();
      return;
    }
    const policy = port.vlan;
    const mtu = nic.mtu;
    const guardMac = !port.allowMacSpoofing;
    for (let i = 0; i < n; i++) {
      const frame = frames[i]!;
      const data = frame?.data;
      pc.rxPackets++;
      if (!(data instanceof Uint8Array)) {
        counters.droppedFrames++;
        this.countDrop(nic, SWITCH_DROP_REASONS.notAFrame, 1);
        continue;
      }
      pc.rxBytes += data.length;
      let problem: SwitchDropReason | null = frameProblem(frame, mtu);
      let vlan = DEFAULT_VLAN;
      if (problem === null) {
        const cls = policy.classify(data);
        if (typeof cls === 'string') problem = cls;
        else vlan = cls;
      }
      if (problem === null && guardMac && !sameMac(data, 6, nic.mac)) problem = SWITCH_DROP_REASONS.macSpoofing;
      if (problem !== null) {
        counters.droppedFrames++;
        this.countDrop(nic, problem, 1);
        continue;
      }
      b.push(frame, nic, vlan, false);
    }
    this.processCounted(b, 0, nic);
  }

  /** Runs a filled batch with its source NIC referenced for the duration. */
  private processCounted(b: Batch, start: number, inflightNic: Nic | null): void {
    if (b.count === 0) {
      this.flushDropEvents();
      return;
    }
    const inflightCount = b.count;
    if (inflightNic) inflightNic.inflight += inflightCount;
    try {
      this.process(b, start);
    } finally {
      if (inflightNic) this.releaseInflight(inflightNic, inflightCount);
    }
  }

  private process(b: Batch, start: number): void {
    const host = this.host;
    const counters = host.counters;
    const ordered = host.stack.ordered;
    const view = this.view;
    view.b = b;

    // Ingress: down the stack from `start`.
    view.phase = 'ingress';
    for (let e = start; e < ordered.length; e++) {
      const ext = ordered[e]!;
      if (!ext.ingress) continue;
      view.open(ext);
      try {
        ext.ingress(view);
      } catch (error) {
        this.failBatch(b, ext, 'ingress', error);
      } finally {
        view.live = false;
      }
    }
    if (!host.stack.forwarding) this.flood(b);

    // The switch checks every destination: connected, not the source, in the frame's VLAN,
    // and the copy with its tag rewritten for that port well-formed.
    const n = b.count;
    for (let i = 0; i < n; i++) {
      if (b.dropped[i] !== null) continue;
      let d = b.head[i]!;
      if (d < 0) {
        b.dropped[i] = SWITCH_DROP_REASONS.noDestination;
        continue;
      }
      const src = b.src[i];
      const vlan = b.vlans[i]!;
      const egress = egressProblem(b.frames[i]!.data);
      for (; d >= 0; d = b.dNext[d]!) {
        if (b.dExcluded[d] !== null) continue;
        const nic = b.dNic[d]!;
        if (nic.state !== 'connected') b.dExcluded[d] = SWITCH_DROP_REASONS.destinationNotConnected;
        else if (nic === src) b.dExcluded[d] = SWITCH_DROP_REASONS.destinationIsSource;
        else if (!nic.port.vlan.admits(vlan)) b.dExcluded[d] = SWITCH_DROP_REASONS.vlanMismatch;
        else if (egress !== null) b.dExcluded[d] = egress;
      }
    }

    // Egress: back up the whole stack.
    view.phase = 'egress';
    for (let e = ordered.length - 1; e >= 0; e--) {
      const ext = ordered[e]!;
      if (!ext.egress) continue;
      view.open(ext);
      try {
        ext.egress(view);
      } catch (error) {
        this.failBatch(b, ext, 'egress', error);
      } finally {
        view.live = false;
      }
    }

    // Delivery and accounting: every frame is dropped (once, with a reason), held, or
    // forwarded; every destination copy of a forwarded frame is delivered or excluded.
    const touched = this.touched;
    let touchedCount = 0;
    for (let i = 0; i < n; i++) {
      const reason = b.dropped[i];
      if (reason !== null) {
        if (reason !== HELD) {
          counters.droppedFrames++;
          this.countDrop(b.src[i] ?? null, reason, 1);
        }
        continue;
      }
      counters.forwardedFrames++;
      const frame = b.frames[i]!;
      const vlan = b.vlans[i]!;
      for (let d = b.head[i]!; d >= 0; d = b.dNext[d]!) {
        const nic = b.dNic[d]!;
        const excluded = b.dExcluded[d];
        if (excluded !== null) {
          counters.excludedCopies++;
          this.countDrop(nic, excluded, 1);
          continue;
        }
        const port = nic.port;
        const out = port.vlan.mode === 'none' && vlan === DEFAULT_VLAN && frameTci(frame.data) < 0
          ? frame
          : frameForEgress(frame, vlan, port.vlan.tagsOnEgress(vlan));
        if (out === null) {
          // Unreachable while egressProblem is checked above (egress filters cannot replace frames); counted all the same.
          counters.excludedCopies++;
          this.countDrop(nic, SWITCH_DROP_REASONS.vlanEgressMalformed, 1);
          continue;
        }
        let box = nic.outbox;
        if (box === null) {
          box = nic.outbox = [];
          touched[touchedCount++] = nic;
        }
        box.push(out);
        port.counters.txPackets++;
        port.counters.txBytes += out.data.length;
        counters.deliveredCopies++;
      }
    }
    this.flushDropEvents();
    for (let t = 0; t < touchedCount; t++) {
      const nic = touched[t]!;
      touched[t] = null;
      const box = nic.outbox!;
      nic.outbox = null;
      try {
        nic.sink.deliver(box);
      } catch (error) {
        this.host.events.emit('error', {
          time: b.time,
          extension: `sink of port ${nic.port.id} NIC ${nic.index}`,
          phase: 'deliver',
          message: error instanceof Error ? error.message : String(error),
        });
      }
    }
  }

  /** With no forwarding extension the switch floods every frame to the connected NICs of its VLAN. */
  private flood(b: Batch): void {
    const nics = this.host.connectedNics();
    for (let i = 0; i < b.count; i++) {
      if (b.dropped[i] !== null || b.head[i]! >= 0) continue;
      const src = b.src[i];
      const vlan = b.vlans[i]!;
      for (let k = 0; k < nics.length; k++) {
        const nic = nics[k]!;
        if (nic !== src && nic.port.vlan.admits(vlan)) b.addDestination(i, nic);
      }
    }
  }

  /** A filter or forwarding extension threw: its batch's remaining frames fail; a capture's error only counts. */
  private failBatch(b: Batch, ext: Extension, phase: string, error: unknown): void {
    this.host.extensionError(ext, phase, error);
    if (ext.kind === 'capture') return;
    const reason = extensionErrorReason(ext.name);
    for (let i = 0; i < b.count; i++) if (b.dropped[i] === null) b.dropped[i] = reason;
  }

  private releaseInflight(nic: Nic, count: number): void {
    nic.inflight -= count;
    if (nic.inflight === 0) nic.checkDrained();
  }

  private countDrop(nic: Nic | null, reason: DropReason, count: number): void {
    const counters = this.host.counters;
    bump(counters.drops, reason, count);
    if (nic) bump(nic.port.counters.drops, reason, count);
    if (!this.host.events.has('drop')) return;
    const portId = nic ? nic.port.id : 0;
    const key = nic ? `${portId}/${nic.index}/${reason}` : `0//${reason}`;
    const entry = this.dropTally.get(key);
    if (entry) entry.count += count;
    else this.dropTally.set(key, nic ? { portId, nicIndex: nic.index, reason, count } : { portId, reason, count });
  }

  private flushDropEvents(): void {
    if (this.dropTally.size === 0) return;
    const time = this.host.now();
    const events = [...this.dropTally.values()];
    this.dropTally.clear();
    for (const e of events) this.host.events.emit('drop', { time, ...e });
  }
}
