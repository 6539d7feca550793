// NIC model 'v86-virtio': v86's OWN virtio-net behind the GuestNic contract,
// so that benchmarks can put it on the same wire as our e1000 and virtio-net
// and compare. Not a lab model (the CLI and the Lab offer e1000 and virtio).
// v86's device offers no offloads (features: MAC, STATUS, MTU, CTRL_VQ,
// CTRL_MAC_ADDR, MQ, VERSION_1) and has one receive queue.
import type { Frame, FrameSink, RxOffloads } from '../net/frame.ts';
import { NO_RX_OFFLOADS } from '../net/frame.ts';
import type { GuestNic, NicCounters, NicDriverEvent, NicFactory, NicOptions } from '../net/nic.ts';
import type { Platform, TimerHandle } from '../platform.ts';
import { RX_DROP_REASONS, bump } from '../net/drop-reasons.ts';
import { V86Platform, type V86VirtioNetLink } from './adapter.ts';

const DRIVER_OK = 4;
const LINK_UP = 1;
/**
 * v86 never calls its own on_driver_ok hook (it compares the new status with
 * itself), so DRIVER_OK is seen by polling the status register at this period.
 */
const STATUS_POLL_MS = 50;
/** Without mergeable buffers or GUEST_TSO, Linux posts 1518-byte receive buffers (MTU 1500 plus a VLAN tag). */
const MAX_RX_FRAME = 1518;

const RX_OFFLOADS: RxOffloads = Object.freeze({ ...NO_RX_OFFLOADS, maxFrameSize: MAX_RX_FRAME });

export class V86VirtioNic implements GuestNic {
  readonly model = 'v86-virtio' as const;
  readonly rxOffloads = RX_OFFLOADS;
  readonly counters: NicCounters = { txFrames: 0, txBytes: 0, rxFrames: 0, rxBytes: 0, rxDropped: {}, guestErrors: {} };
  private sink: FrameSink | null = null;
  private ready = false;
  private linkUp = true;
  private destroyed = false;
  private pollTimer: TimerHandle | undefined;
  private readonly listeners = new Set<(event: NicDriverEvent) => void>();
  private readonly unsubscribe: (() => void)[] = [];

  constructor(
    private readonly platform: Platform,
    private readonly link: V86VirtioNetLink,
    options: NicOptions,
  ) {
    link.claim();
    // The device-specific config reads this array live, so the guest probes with our MAC.
    link.device.mac = Uint8Array.from(options.mac.subarray(0, 6));
    link.device.status = LINK_UP;
    this.unsubscribe.push(
      link.onGuestFrame((data) => this.fromGuest(data)),
      link.onMacChange(() => this.emit({ type: 'mac', mac: this.mac })),
    );
    this.schedulePoll();
  }

  get mac(): Uint8Array {
    return Uint8Array.from(this.link.device.mac.subarray(0, 6));
  }

  get driverReady(): boolean {
    return this.ready;
  }

  setTransmitSink(sink: FrameSink | null): void {
    this.sink = sink;
  }

  receive(frames: readonly Frame[]): void {
    if (this.destroyed) return;
    const queue = this.link.device.virtio.queues[0];
    for (const frame of frames) {
      if (!this.linkUp) bump(this.counters.rxDropped, RX_DROP_REASONS.linkDown);
      else if (!this.ready || !queue) bump(this.counters.rxDropped, RX_DROP_REASONS.driverNotReady);
      else if (frame.gso || frame.csum) bump(this.counters.rxDropped, RX_DROP_REASONS.offloadNotResolved);
      else if (frame.data.length > MAX_RX_FRAME) bump(this.counters.rxDropped, RX_DROP_REASONS.oversize);
      // Checked here: v86 would only console.log "No buffer to write into!" and lose it uncounted.
      else if (!queue.has_request()) bump(this.counters.rxDropped, RX_DROP_REASONS.ringFull);
      else {
        this.link.sendToGuest(frame.data);
        this.counters.rxFrames++;
        this.counters.rxBytes += frame.data.length;
      }
    }
  }

  setLinkUp(up: boolean): void {
    if (this.destroyed || up === this.linkUp) return;
    this.linkUp = up;
    this.link.device.status = up ? LINK_UP : 0;
    this.link.device.virtio.notify_config_changes();
  }

  onDriverEvent(listener: (event: NicDriverEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** v86's save_state carries the whole device; nothing of ours needs saving. */
  saveState(): unknown {
    return {};
  }

  restoreState(_state: unknown): void {
    // The restored status register is picked up by the next poll (ready after a restore of a running guest).
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.sink = null;
    if (this.pollTimer) this.platform.timers.clearTimeout(this.pollTimer);
    for (const off of this.unsubscribe.splice(0)) off();
    this.listeners.clear();
  }

  private fromGuest(data: Uint8Array): void {
    if (this.destroyed) return;
    this.counters.txFrames++;
    this.counters.txBytes += data.length;
    // v86 hands over a fresh buffer per frame, so it can be passed on without a copy.
    if (this.linkUp) this.sink?.deliver([{ data }]);
  }

  private schedulePoll(): void {
    this.pollTimer = this.platform.timers.setTimeout(() => {
      if (this.destroyed) return;
      this.pollStatus();
      this.schedulePoll();
    }, STATUS_POLL_MS);
  }

  private pollStatus(): void {
    const ok = (this.link.device.virtio.device_status & DRIVER_OK) !== 0;
    if (ok === this.ready) return;
    this.ready = ok;
    this.emit(ok ? { type: 'ready' } : { type: 'stopped', reason: 'the guest driver reset the device' });
  }

  private emit(event: NicDriverEvent): void {
    for (const listener of [...this.listeners]) listener(event);
  }
}

export const createV86VirtioNic: NicFactory = (platform, options) => {
  const link = platform instanceof V86Platform ? platform.v86VirtioNet : undefined;
  if (!link) throw new Error("NIC model 'v86-virtio' needs a v86 machine created with v86VirtioNet (VirtualMachine does this for it)");
  return new V86VirtioNic(platform, link, options);
};
