// Port mirroring (a filter extension): frames from given source ports, to
// given destination ports, or in given VLANs are copied to a mirror NIC. The
// copy is originated (injected) with the mirror NIC as its one destination,
// after the original's destinations are known (egress). The mirror port must
// carry the mirrored VLANs (a trunk, or the default VLAN for untagged traffic).
import type { Frame } from '../../emulator/net/frame.ts';
import type { EgressBatch, Extension, ExtensionContext, NicRef } from '../extension.ts';

export interface MirrorSession {
  name?: string;
  /** Mirror frames that came from these ports. */
  sourcePorts?: number[];
  /** Mirror frames going to these ports. */
  destinationPorts?: number[];
  /** Mirror frames of these VLANs (0: the default, untagged VLAN). */
  vlans?: number[];
  /** Where the copies go. */
  to: NicRef;
}

export interface MirrorOptions {
  name?: string;
  sessions?: MirrorSession[];
}

interface CompiledSession {
  name: string;
  sources: Set<number>;
  destinations: Set<number>;
  vlans: Set<number>;
  to: NicRef;
  mirrored: number;
  refused: number;
}

export class PortMirror implements Extension {
  readonly name: string;
  readonly kind = 'filter' as const;
  private context: ExtensionContext | null = null;
  private sessions: CompiledSession[] = [];

  constructor(options: MirrorOptions = {}) {
    this.name = options.name ?? 'mirror';
    this.setSessions(options.sessions ?? []);
  }

  attach(context: ExtensionContext): void {
    this.context = context;
  }

  detach(): void {
    this.context = null;
  }

  setSessions(sessions: readonly MirrorSession[]): void {
    this.sessions = sessions.map((s, i) => {
      if (!s.to || !Number.isInteger(s.to.portId) || !Number.isInteger(s.to.nicIndex)) throw new Error(`mirror session ${i + 1}: 'to' must name a port and NIC`);
      return {
        name: s.name ?? `session ${i + 1}`,
        sources: new Set(s.sourcePorts ?? []),
        destinations: new Set(s.destinationPorts ?? []),
        vlans: new Set(s.vlans ?? []),
        to: { portId: s.to.portId, nicIndex: s.to.nicIndex },
        mirrored: 0,
        refused: 0,
      };
    });
  }

  counters(): { name: string; mirrored: number; refused: number }[] {
    return this.sessions.map((s) => ({ name: s.name, mirrored: s.mirrored, refused: s.refused }));
  }

  egress(batch: EgressBatch): void {
    const context = this.context;
    if (!context || this.sessions.length === 0) return;
    for (const session of this.sessions) {
      let copies: Frame[] | null = null;
      let copyVlans: number[] | null = null;
      for (let i = 0; i < batch.count; i++) {
        // Copies are originated frames: never mirror them again.
        if (batch.isDropped(i) || batch.injected(i)) continue;
        if (!this.matches(session, batch, i)) continue;
        (copies ??= []).push(batch.frame(i) as Frame);
        (copyVlans ??= []).push(batch.vlan(i));
      }
      if (copies === null) continue;
      // One injection per VLAN run keeps each copy in its own VLAN.
      let start = 0;
      for (let k = 1; k <= copies.length; k++) {
        if (k < copies.length && copyVlans![k] === copyVlans![start]) continue;
        const result = context.inject(copies.slice(start, k), { destination: session.to, vlan: copyVlans![start]! });
        if (result.accepted) session.mirrored += k - start;
        else session.refused += k - start;
        start = k;
      }
    }
  }

  private matches(session: CompiledSession, batch: EgressBatch, i: number): boolean {
    const to = session.to;
    const source = batch.source(i);
    // The mirror NIC's own traffic is not mirrored back to it.
    if (source && source.portId === to.portId && source.index === to.nicIndex) return false;
    // Nor copied when the original already goes there.
    for (let d = batch.firstDestination(i); d >= 0; d = batch.nextDestination(d)) {
      const nic = batch.destination(d);
      if (nic.portId === to.portId && nic.index === to.nicIndex && batch.excluded(d) === null) return false;
    }
    if (session.sources.has(batch.sourcePortId(i))) return true;
    if (session.vlans.has(batch.vlan(i))) return true;
    if (session.destinations.size) {
      for (let d = batch.firstDestination(i); d >= 0; d = batch.nextDestination(d)) {
        if (batch.excluded(d) === null && session.destinations.has(batch.destination(d).portId)) return true;
      }
    }
    return false;
  }
}
