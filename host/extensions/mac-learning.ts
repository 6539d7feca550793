// The MAC-learning forwarding extension: learns (VLAN, source MAC) -> NIC,
// sends known unicast to its NIC, floods broadcast, multicast and unknown
// unicast to the connected NICs of the frame's VLAN except the source. Entries
// age out (injectable clock), the table has a size limit, and a NIC's entries
// are flushed when it disconnects or its port goes. It vetoes VLAN properties
// it cannot enforce.
import { formatMac } from '../../emulator/net/frame.ts';
import type { Extension, ExtensionContext, IngressBatch } from '../extension.ts';
import type { NicInfo } from '../nic.ts';
import type { OidReply, OidRequest, OidStatus } from '../oid.ts';
import { vlanPropertyProblem } from './vlan.ts';
import { EXTENSION_DROP_REASONS } from '../drop-reasons.ts';

export interface MacLearningOptions {
  name?: string;
  /** Entries unseen for this long are forgotten (default 300 s, as Open vSwitch). */
  agingMs?: number;
  /** Most entries (default 8192, as Open vSwitch); when full, new addresses are not learned (their frames flood). */
  maxEntries?: number;
}

export interface MacEntry {
  vlan: number;
  mac: string;
  portId: number;
  nicIndex: number;
  /** Clock (ms) when last seen as a source. */
  lastSeen: number;
}

interface Entry {
  nic: NicInfo;
  lastSeen: number;
}

export class MacLearningForwarder implements Extension {
  readonly name: string;
  readonly kind = 'forwarding' as const;
  readonly agingMs: number;
  readonly maxEntries: number;
  /** Per VLAN: 48-bit MAC as a number -> entry. */
  private readonly tables = new Map<number, Map<number, Entry>>();
  private size = 0;
  private context: ExtensionContext | null = null;
  /** Learning attempts refused because the table was full of live entries. */
  tableFullMisses = 0;
  private lastSweep = -Infinity;

  constructor(options: MacLearningOptions = {}) {
    this.name = options.name ?? 'mac-learning';
    this.agingMs = options.agingMs ?? 300_000;
    this.maxEntries = options.maxEntries ?? 8192;
    if (!(this.agingMs > 0)) throw new RangeError('agingMs must be > 0');
    if (!(Number.isInteger(this.maxEntries) && this.maxEntries > 0)) throw new RangeError('maxEntries must be an integer > 0');
  }

  attach(context: ExtensionContext): void {
    this.context = context;
  }

  detach(): void {
    this.context = null;
    this.flushAll();
  }

  get entryCount(): number {
    return this.size;
  }

  oidRequest(request: OidRequest): OidReply {
    if (
      (request.oid === 'OID_SWITCH_PORT_PROPERTY_ADD' || request.oid === 'OID_SWITCH_PORT_PROPERTY_UPDATE') &&
      request.property.type === 'vlan'
    ) {
      const problem = vlanPropertyProblem(request.property);
      if (problem) return { veto: problem };
    }
    return undefined;
  }

  oidComplete(request: OidRequest, status: OidStatus): void {
    if (status !== 'success') return;
    switch (request.oid) {
      case 'OID_SWITCH_NIC_DISCONNECT':
      case 'OID_SWITCH_NIC_DELETE':
        this.flushNic(request.nic.portId, request.nic.index);
        break;
      case 'OID_SWITCH_PORT_TEARDOWN':
      case 'OID_SWITCH_PORT_DELETE':
        this.flushPort(request.port.id);
        break;
      case 'OID_SWITCH_PORT_PROPERTY_ADD':
      case 'OID_SWITCH_PORT_PROPERTY_UPDATE':
      case 'OID_SWITCH_PORT_PROPERTY_DELETE':
        // The port's VLANs changed: what was learned there may now be wrong.
        if (request.property.type === 'vlan') this.flushPort(request.port.id);
        break;
      case 'OID_SWITCH_NIC_UPDATED':
        this.flushNic(request.nic.portId, request.nic.index);
        break;
      default:
        break;
    }
  }

  ingress(batch: IngressBatch): void {
    const context = this.context;
    if (!context) return;
    const now = batch.time;
    const aging = this.agingMs;
    const n = batch.count;
    let connected: readonly NicInfo[] | null = null;
    let lastVlan = -1;
    let table: Map<number, Entry> | undefined;
    // Frames of a batch mostly share source and destination: remember the last
    // refreshed source and the last destination hit (valid within this batch:
    // the clock does not move and nothing is flushed during it).
    let seenSrcKey = -1;
    let seenSrcNic: NicInfo | null = null;
    let hitDstKey = -1;
    let hitDst: Entry | null = null;
    for (let i = 0; i < n; i++) {
      if (batch.isDropped(i) || batch.firstDestination(i) >= 0) continue;
      const data = batch.frame(i).data;
      const vlan = batch.vlan(i);
      if (vlan !== lastVlan) {
        table = this.tables.get(vlan);
        lastVlan = vlan;
        seenSrcKey = -1;
        hitDstKey = -1;
      }
      const src = batch.source(i);
      // Learn the source (not from originated frames on port 0, not multicast sources).
      if (src !== null && (data[6]! & 1) === 0) {
        const key = macKey(data, 6);
        if (key !== seenSrcKey || src !== seenSrcNic) {
          const entry = table?.get(key);
          if (entry !== undefined && entry.nic === src) entry.lastSeen = now;
          else table = this.learn(vlan, key, src, now, table);
          seenSrcKey = key;
          seenSrcNic = src;
        }
      }
      // Forward.
      if ((data[0]! & 1) === 0 && table !== undefined) {
        const key = macKey(data, 0);
        const entry: Entry | null | undefined = key === hitDstKey ? hitDst : table.get(key);
        if (entry != null) {
          if (now - entry.lastSeen <= aging && entry.nic.state === 'connected') {
            hitDstKey = key;
            hitDst = entry;
            if (entry.nic === src) batch.drop(i, EXTENSION_DROP_REASONS.hairpin);
            else batch.addDestination(i, entry.nic);
            continue;
          }
          table.delete(key);
          this.size--;
          hitDstKey = -1;
        }
      }
      if (connected === null) connected = context.connectedNics();
      for (let k = 0; k < connected.length; k++) {
        const nic = connected[k]!;
        if (nic !== src && nic.port.vlan.admits(vlan)) batch.addDestination(i, nic);
      }
    }
  }

  /** The table, for the CLI and tests (live entries only). */
  entries(): MacEntry[] {
    const now = this.context ? this.context.now() : Date.now();
    const out: MacEntry[] = [];
    for (const [vlan, table] of this.tables) {
      for (const [key, entry] of table) {
        if (now - entry.lastSeen > this.agingMs) continue;
        out.push({ vlan, mac: keyToMac(key), portId: entry.nic.portId, nicIndex: entry.nic.index, lastSeen: entry.lastSeen });
      }
    }
    return out;
  }

  lookup(vlan: number, mac: Uint8Array): MacEntry | undefined {
    const entry = this.tables.get(vlan)?.get(macKey(mac, 0));
    if (!entry) return undefined;
    const now = this.context ? this.context.now() : Date.now();
    if (now - entry.lastSeen > this.agingMs) return undefined;
    return { vlan, mac: formatMac(mac), portId: entry.nic.portId, nicIndex: entry.nic.index, lastSeen: entry.lastSeen };
  }

  flushPort(portId: number): void {
    this.flushWhere((entry) => entry.nic.portId === portId);
  }

  flushNic(portId: number, nicIndex: number): void {
    this.flushWhere((entry) => entry.nic.portId === portId && entry.nic.index === nicIndex);
  }

  flushAll(): void {
    this.tables.clear();
    this.size = 0;
  }

  /** Forgets entries older than the aging time. */
  sweep(now: number): void {
    this.lastSweep = now;
    this.flushWhere((entry) => now - entry.lastSeen > this.agingMs);
  }

  private learn(vlan: number, key: number, nic: NicInfo, now: number, table: Map<number, Entry> | undefined): Map<number, Entry> | undefined {
    const existing = table?.get(key);
    if (existing !== undefined) {
      // The address moved (or its entry had aged): it is where it was last seen.
      existing.nic = nic;
      existing.lastSeen = now;
      return table;
    }
    if (this.size >= this.maxEntries) {
      // Sweeping is O(table): at most once per aging period unless it frees room.
      if (now - this.lastSweep >= Math.min(this.agingMs, 1000)) {
        this.sweep(now);
        // The sweep may have dropped this VLAN's (now empty) table.
        table = this.tables.get(vlan);
      }
      if (this.size >= this.maxEntries) {
        this.tableFullMisses++;
        return table;
      }
    }
    if (table === undefined) {
      table = new Map();
      this.tables.set(vlan, table);
    }
    table.set(key, { nic, lastSeen: now });
    this.size++;
    return table;
  }

  private flushWhere(predicate: (entry: Entry) => boolean): void {
    for (const [vlan, table] of this.tables) {
      for (const [key, entry] of table) {
        if (predicate(entry)) {
          table.delete(key);
          this.size--;
        }
      }
      if (table.size === 0) this.tables.delete(vlan);
    }
  }
}

/** A 48-bit MAC as a number (exact: below 2^53). */
export function macKey(data: Uint8Array, offset: number): number {
  return (
    (data[offset]! * 0x10000 + ((data[offset + 1]! << 8) | data[offset + 2]!)) * 0x1000000 +
    ((data[offset + 3]! << 16) | (data[offset + 4]! << 8) | data[offset + 5]!)
  );
}

function keyToMac(key: number): string {
  const hi = Math.floor(key / 0x1000000);
  const lo = key % 0x1000000;
  return formatMac(Uint8Array.of((hi >> 16) & 0xff, (hi >> 8) & 0xff, hi & 0xff, (lo >> 16) & 0xff, (lo >> 8) & 0xff, lo & 0xff));
}
