// Counters per port and for the whole switch. Plain numbers on plain objects:
// the data path bumps them per batch, readers get a copy.
import type { DropCounts, InjectionRefusal } from './drop-reasons.ts';

/** The one counting helper of every layer (the device catalogue's file holds it: emulator/ cannot import host/). */
export { bump } from '../emulator/net/drop-reasons.ts';

export interface PortCounters {
  /** Frames the port received from its NIC (into the switch), dropped ones included. */
  rxPackets: number;
  rxBytes: number;
  /** Frames the switch delivered out of the port to its NIC. */
  txPackets: number;
  txBytes: number;
  /** Frames from this port dropped on ingress, and copies for this port excluded on egress, by reason. */
  drops: DropCounts;
}

export interface SwitchCounters {
  /** Frames that entered the data path (from ports and originated by extensions). */
  ingressFrames: number;
  /** ... of which originated by extensions (source port 0 or injected on a port's behalf). */
  injectedFrames: number;
  /** Ingress frames dropped (each exactly once, with a reason). */
  droppedFrames: number;
  /** Ingress frames that left the stack with at least one destination. */
  forwardedFrames: number;
  /** Frames an extension holds right now (left the batch, not yet resumed or dropped). */
  heldFrames: number;
  /** Destination copies delivered to a NIC. */
  deliveredCopies: number;
  /** Destination copies excluded on egress (each with a reason). */
  excludedCopies: number;
  /** Drops and exclusions by reason, all ports together. */
  drops: DropCounts;
  /** Injections refused (not connected, bad source or destination), by reason. */
  refusedInjections: Partial<Record<InjectionRefusal, number>>;
  /** Callbacks that threw, by extension name. */
  extensionErrors: Record<string, number>;
}

export function newPortCounters(): PortCounters {
  return { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, drops: {} };
}

export function newSwitchCounters(): SwitchCounters {
  return {
    ingressFrames: 0,
    injectedFrames: 0,
    droppedFrames: 0,
    forwardedFrames: 0,
    heldFrames: 0,
    deliveredCopies: 0,
    excludedCopies: 0,
    drops: {},
    refusedInjections: {},
    extensionErrors: {},
  };
}

export function sumValues(record: Readonly<Record<string, number>>): number {
  let total = 0;
  for (const key in record) total += record[key]!;
  return total;
}

export function copyPortCounters(c: PortCounters): PortCounters {
  return { ...c, drops: { ...c.drops } };
}

export function copySwitchCounters(c: SwitchCounters): SwitchCounters {
  return {
    ...c,
    drops: { ...c.drops },
    refusedInjections: { ...c.refusedInjections },
    extensionErrors: { ...c.extensionErrors },
  };
}
