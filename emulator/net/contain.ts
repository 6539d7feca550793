// A guest NIC whose every outside-facing call runs in its FaultDomain
// (emulator/fault.ts): the wire, the switch attachment and the runtimes call
// this, never the model directly, so an exception in the model marks the NIC
// failed (a 'failed' driver event with the error, once) instead of unwinding
// into a microtask, a timer or a message handler. `createContainedNic` also
// runs the model on a contained platform (BAR handlers and timers guarded).
import type { Frame, FrameSink, RxOffloads } from './frame.ts';
import { NO_RX_OFFLOADS } from './frame.ts';
import type { GuestNic, NicCounters, NicDriverEvent, NicFactory, NicModel, NicOptions } from './nic.ts';
import { RX_DROP_REASONS, bump } from './drop-reasons.ts';
import type { Platform } from '../platform.ts';
import { FaultDomain, containPlatform } from '../fault.ts';

/** A failed NIC was asked for something only a working one can give (its saved state). */
export class NicFailedError extends Error {
  constructor(readonly nic: string, options?: { cause?: unknown }) {
    const cause = options?.cause;
    super(`${nic} has failed${cause instanceof Error ? `: ${cause.message}` : ''}`, options);
    this.name = 'NicFailedError';
  }
}

export class ContainedNic implements GuestNic {
  private readonly listeners = new Set<(event: NicDriverEvent) => void>();
  private readonly offInner: () => void;
  private readonly offDomain: () => void;
  /** Last values read from the model: what a failed NIC still reports. */
  private lastMac: Uint8Array;
  private lastOffloads: RxOffloads = NO_RX_OFFLOADS;

  /**
   * `device` is the model itself. It is public for diagnostics and for tests
   * that make it throw on purpose (emulator/net/testing.ts injectNicFault);
   * nothing else should call it.
   */
  constructor(
    readonly device: GuestNic,
    readonly domain: FaultDomain,
  ) {
    this.lastMac = device.mac.slice();
    this.offInner = device.onDriverEvent((event) => {
      // A failed model's own events (its link going down, its driver stopping) are not news to anyone.
      if (domain.failed) return;
      if (event.type === 'mac') this.lastMac = event.mac.slice();
      this.emit(event);
    });
    this.offDomain = domain.onFault((state, error) => {
      if (state === 'failed') this.onFailed(error);
    });
  }

  get model(): NicModel {
    return this.device.model;
  }

  get failed(): boolean {
    return this.domain.failed;
  }

  get mac(): Uint8Array {
    if (this.domain.failed) return this.lastMac;
    return (this.lastMac = this.domain.run(() => this.device.mac, this.lastMac));
  }

  get driverReady(): boolean {
    if (this.domain.failed) return false;
    return this.domain.run(() => this.device.driverReady, false);
  }

  /** Read per delivered batch: no closure here. */
  get rxOffloads(): RxOffloads {
    if (this.domain.failed) return this.lastOffloads;
    try {
      return (this.lastOffloads = this.device.rxOffloads);
    } catch (error) {
      this.domain.report(error);
      return this.lastOffloads;
    }
  }

  get counters(): NicCounters {
    return this.device.counters;
  }

  setTransmitSink(sink: FrameSink | null): void {
    if (this.domain.failed) return;
    this.domain.run(() => this.device.setTransmitSink(sink), undefined);
  }

  receive(frames: readonly Frame[]): void {
    if (this.domain.failed) {
      bump(this.device.counters.rxDropped, RX_DROP_REASONS.nicFailed, frames.length);
      return;
    }
    try {
      this.device.receive(frames);
    } catch (error) {
      // The rest of the batch is lost with the NIC (which frames the model had taken, it alone knew).
      this.domain.report(error);
    }
  }

  setLinkUp(up: boolean): void {
    if (this.domain.failed) return;
    this.domain.run(() => this.device.setLinkUp(up), undefined);
  }

  onDriverEvent(listener: (event: NicDriverEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  saveState(): unknown {
    if (this.domain.failed) throw new NicFailedError(this.domain.name, { cause: this.domain.error });
    try {
      return this.device.saveState();
    } catch (error) {
      this.domain.report(error);
      throw new NicFailedError(this.domain.name, { cause: error });
    }
  }

  /** Not guarded: a saved state the model refuses is the caller's error (DeviceStateError), and the VM start that asked fails. */
  restoreState(state: unknown): void {
    this.device.restoreState(state);
  }

  /** Always reaches the model, failed or not: it frees the model's timers. */
  destroy(): void {
    this.offInner();
    this.offDomain();
    this.listeners.clear();
    try {
      this.device.destroy();
    } catch (error) {
      this.domain.report(error);
    }
  }

  private onFailed(error: Error): void {
    // Cut the model off from the outside and show its guest the cable pulled; if even that throws, the domain is silenced.
    this.domain.run(() => {
      this.device.setTransmitSink(null);
      this.device.setLinkUp(false);
    }, undefined);
    this.emit({ type: 'failed', error });
  }

  private emit(event: NicDriverEvent): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch (error) {
        // A listener's bug is not the model's fault: report it, do not fail the NIC for it.
        console.error(`vmswitch: ${this.domain.name}: a driver event listener threw:`, error);
      }
    }
  }
}

/** Wraps a NIC (in its own domain unless one is given); a NIC already contained is returned as is. */
export function containNic(nic: GuestNic, domain?: FaultDomain): ContainedNic {
  if (nic instanceof ContainedNic) return nic;
  return new ContainedNic(nic, domain ?? new FaultDomain(nic.model));
}

/** Creates a NIC model on a contained platform and wraps it: the one way runtimes create NICs. `name` labels faults, e.g. "a/eth0". */
export function createContainedNic(factory: NicFactory, platform: Platform, options: NicOptions, name: string): ContainedNic {
  const domain = new FaultDomain(name);
  return new ContainedNic(factory(containPlatform(platform, domain), options), domain);
}
