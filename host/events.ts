// The switch's event stream: every OID, every drop, every state change, every
// extension error. A tiny typed emitter of our own (no node:events) because the
// switch also runs in a browser Web Worker.
import type { OidName, OidStatus } from './oid.ts';

export interface OidEvent {
  /** Switch clock (ms) at completion. */
  time: number;
  oid: OidName;
  portId: number;
  /** Present for NIC OIDs. */
  nicIndex?: number;
  status: OidStatus;
  /** The extension (or 'switch') that vetoed or failed it. */
  vetoedBy?: string;
  /** Why it was vetoed or failed. */
  detail?: string;
  /** Extensions that threw or vetoed where no veto is allowed; the OID still went on. */
  errors?: { extension: string; message: string }[];
}

export interface DropEvent {
  time: number;
  /** The port the frames came from (ingress drops) or were going to (egress exclusions); 0: originated by an extension. */
  portId: number;
  nicIndex?: number;
  reason: string;
  count: number;
}

export interface StateEvent {
  time: number;
  object: 'port' | 'nic';
  portId: number;
  nicIndex?: number;
  from: string | null;
  to: string;
}

export interface ErrorEvent {
  time: number;
  extension: string;
  /** Where it threw: 'ingress', 'egress', 'oid', 'oidComplete', 'attach', 'detach'. */
  phase: string;
  message: string;
}

/** The NIC_DELETE/PORT_DELETE wait ran out; the step went on anyway (forced). */
export interface TimeoutEvent {
  time: number;
  wait: 'nic-drain' | 'port-drain';
  portId: number;
  nicIndex?: number;
  /** References still held when the wait gave up (in-flight frames, OIDs, extension references). */
  references: number;
  timeoutMs: number;
}

export interface SwitchEvents {
  oid: OidEvent;
  drop: DropEvent;
  state: StateEvent;
  error: ErrorEvent;
  timeout: TimeoutEvent;
}

export class Emitter<Events extends object> {
  private readonly listeners = new Map<keyof Events, Set<(event: never) => void>>();

  /** Subscribes; returns the unsubscribe function. */
  on<K extends keyof Events>(name: K, listener: (event: Events[K]) => void): () => void {
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(listener as (event: never) => void);
    return () => this.off(name, listener);
  }

  off<K extends keyof Events>(name: K, listener: (event: Events[K]) => void): void {
    this.listeners.get(name)?.delete(listener as (event: never) => void);
  }

  /** True when someone listens (lets the data path skip building events nobody reads). */
  has(name: keyof Events): boolean {
    const set = this.listeners.get(name);
    return set !== undefined && set.size > 0;
  }

  emit<K extends keyof Events>(name: K, event: Events[K]): void {
    const set = this.listeners.get(name);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        (listener as (event: Events[K]) => void)(event);
      } catch (error) {
        // A listener's bug must not break the switch (nor the data path that emitted).
        console.error(`vmswitch: a '${String(name)}' event listener threw:`, error);
      }
    }
  }
}
