// Fault containment for one device model (issue 12): an exception thrown by
// device code never escapes into the event loop or into v86's CPU loop. Each
// NIC runs in its own FaultDomain; the VM runtime (emulator/vm.ts, the web
// worker) creates the NIC on `containPlatform(platform, domain)`, so every
// BAR handler and device timer runs guarded, and wraps the NIC itself with
// `containNic` (emulator/net/contain.ts), so every call from outside
// (frames, link, state) runs guarded too.
//
//   healthy --first exception--> failed --any further exception--> silenced
//
// - failed: the NIC is cut off from the outside for good (frames to it are
//   dropped and counted, its transmit sink is detached, its port runs the stop
//   lifecycle, the guest is shown link down), but the model still answers its
//   own guest's register reads and writes and runs its timers, guarded, so the
//   guest's driver can see the link go down and acknowledge the interrupt.
// - silenced: no device code runs again: register reads return 0, writes and
//   timers are ignored, the function's interrupt lines are lowered.
import type { AccessSize, PciBar, PciFunction, PciFunctionSpec, Platform, RegionHandlers, TimerHandle, Timers } from './platform.ts';

export type FaultState = 'healthy' | 'failed' | 'silenced';

export type FaultListener = (state: Exclude<FaultState, 'healthy'>, error: Error) => void;

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(`a non-Error was thrown: ${String(error)}`);
}

export class FaultDomain {
  private current: FaultState = 'healthy';
  private firstError: Error | undefined;
  /** Exceptions caught in this domain (the first fails it; a later one silences it; later still are only counted). */
  faults = 0;
  private readonly listeners = new Set<FaultListener>();

  /** `name` says whose domain it is in messages, e.g. "a/eth0 (e1000)". */
  constructor(readonly name: string) {}

  get state(): FaultState {
    return this.current;
  }

  /** True once an exception was caught (failed or silenced). */
  get failed(): boolean {
    return this.current !== 'healthy';
  }

  get silenced(): boolean {
    return this.current === 'silenced';
  }

  /** The exception that failed the domain. */
  get error(): Error | undefined {
    return this.firstError;
  }

  /** Called once when the domain fails and once when it is silenced. */
  onFault(listener: FaultListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Records a caught exception and moves the domain on (healthy -> failed -> silenced). */
  report(error: unknown): void {
    this.faults++;
    if (this.current === 'silenced') return;
    const next = this.current === 'healthy' ? 'failed' : 'silenced';
    this.current = next;
    const reported = asError(error);
    this.firstError ??= reported;
    for (const listener of [...this.listeners]) {
      try {
        listener(next, reported);
      } catch (listenerError) {
        // Listeners are ours (the NIC wrapper, the runtime); a bug there must not escape from a guard either.
        console.error(`vmswitch: ${this.name}: a fault listener threw:`, listenerError);
      }
    }
  }

  /** Runs `fn` unless the domain is silenced; an exception is reported and `fallback` returned instead. */
  run<T>(fn: () => T, fallback: T): T {
    if (this.current === 'silenced') return fallback;
    try {
      return fn();
    } catch (error) {
      this.report(error);
      return fallback;
    }
  }
}

/**
 * A BAR's handlers run in the domain. Written out (no closure per access): this
 * is the per-MMIO-access hot path.
 */
export function containRegion(handlers: RegionHandlers, domain: FaultDomain): RegionHandlers {
  return {
    read(offset: number, size: AccessSize): number {
      if (domain.silenced) return 0;
      try {
        return handlers.read(offset, size);
      } catch (error) {
        domain.report(error);
        return 0;
      }
    },
    write(offset: number, size: AccessSize, value: number): void {
      if (domain.silenced) return;
      try {
        handlers.write(offset, size, value);
      } catch (error) {
        domain.report(error);
      }
    },
  };
}

/** Timer callbacks run in the domain; a silenced domain's timers do nothing when they fire. */
export class ContainedTimers implements Timers {
  constructor(private readonly inner: Timers, private readonly domain: FaultDomain) {}

  now(): number {
    return this.inner.now();
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const domain = this.domain;
    return this.inner.setTimeout(() => domain.run(callback, undefined), ms);
  }

  clearTimeout(handle: TimerHandle): void {
    this.inner.clearTimeout(handle);
  }
}

/**
 * The platform as one device sees it: its BAR handlers and timers run in
 * `domain`, and its interrupt lines are lowered when the domain is silenced
 * (an INTx left high for nobody makes Linux disable the IRQ, and the IRQ may be
 * shared with another NIC). Everything else is the platform's own: the view
 * inherits from it, so a v86 platform stays one (v86-virtio looks for v86's
 * own device on it) and a fake one keeps its test handles.
 */
export function containPlatform<P extends Platform>(platform: P, domain: FaultDomain): P {
  const functions: PciFunction[] = [];
  domain.onFault((state) => {
    if (state === 'silenced') for (const fn of functions) fn.irq.set(false);
  });
  const view = Object.create(platform) as P;
  Object.defineProperty(view, 'timers', { value: new ContainedTimers(platform.timers, domain) });
  Object.defineProperty(view, 'addPciFunction', {
    value: (spec: PciFunctionSpec): PciFunction => {
      const bars = spec.bars.map((bar): PciBar | undefined => (bar ? { ...bar, handlers: containRegion(bar.handlers, domain) } : undefined));
      const fn = platform.addPciFunction({ ...spec, bars });
      functions.push(fn);
      return fn;
    },
  });
  return view;
}
