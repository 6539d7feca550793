// A DHCP server in the switch (a filter extension), so guests can `udhcpc`:
// it answers DHCPDISCOVER with an OFFER and DHCPREQUEST with an ACK or NAK
// (RFC 2131), from a static table of MAC -> IPv4 and an optional pool, with
// the subnet mask, router, DNS servers, lease and renewal times and its
// server identifier. Replies are the switch's own frames: injected from
// port 0 straight to the NIC the request came from, in the request's VLAN.
// Client messages still go on (another allowed server may answer too).
// The server also answers ARP for its own address (a renewing client unicasts
// to it), so `serverIp` must be an address no guest uses.
//
// Hostile input: a frame to UDP port 67 that is not a well-formed DHCP
// message is dropped as `dhcp-malformed` and counted by problem. Requests the
// server does not answer (another server chosen, a relay's, an unknown
// client's INIT-REBOOT, no free address) are counted as `ignored`.
import type { Frame } from '../../emulator/net/frame.ts';
import { formatMac, parseMac } from '../../emulator/net/frame.ts';
import type { Extension, ExtensionContext, IngressBatch } from '../extension.ts';
import { EXTENSION_DROP_REASONS } from '../drop-reasons.ts';
import { parseIpv4Address } from './acl.ts';
import type { DhcpMessage, DhcpProblem } from './dhcp-message.ts';
import { DhcpType, buildDhcpReply, formatIpv4, locateDhcp, parseDhcp } from './dhcp-message.ts';

export interface DhcpReservation {
  /** "aa:bb:cc:dd:ee:ff" */
  mac: string;
  ip: string;
}

export interface DhcpServerOptions {
  name?: string;
  /** The server's address (its identifier, the replies' source); inside `subnet`. */
  serverIp: string;
  /** The served subnet, CIDR ("10.0.1.0/24"). */
  subnet: string;
  /** Default gateway handed out (option 3). */
  gateway?: string;
  /** DNS servers handed out (option 6). */
  dns?: string | string[];
  /** Default 3600. */
  leaseSeconds?: number;
  reservations: DhcpReservation[];
  /** Addresses handed to clients without a reservation, both ends included. */
  pool?: { from: string; to: string };
  /** The replies' source MAC (default 02:56:4d:44:48:43, locally administered). */
  serverMac?: string;
  /** Answer only requests in this VLAN (default: any; the reply goes back in the request's VLAN). */
  vlan?: number;
}

/** A bad DhcpServerOptions. */
export class DhcpConfigError extends Error {
  constructor(message: string) {
    super(`dhcp-server: ${message}`);
    this.name = 'DhcpConfigError';
  }
}

export interface DhcpLease {
  mac: string;
  ip: string;
  state: 'offered' | 'bound';
  /** Switch clock (ms). */
  expiresAt: number;
}

export interface DhcpServerCounters {
  received: Record<'discover' | 'request' | 'decline' | 'release' | 'inform' | 'other', number>;
  sent: Record<'offer' | 'ack' | 'nak', number>;
  /** Messages not answered (see the header). */
  ignored: number;
  /** Replies the switch refused to inject (the client's NIC went away). */
  refused: number;
  /** ARP requests for the server's address answered. */
  arpReplies: number;
  /** Malformed messages by problem. */
  malformed: Partial<Record<DhcpProblem, number>>;
}

interface Lease {
  ip: number;
  state: 'offered' | 'bound';
  expiresAt: number;
}

/** How long an offered address is kept for the client that was offered it. */
const OFFER_HOLD_MS = 60_000;
/** Most pool addresses scanned for a free one per DISCOVER (a /16 pool is 65536). */
const MAX_POOL = 1 << 20;

function ipv4(text: string, what: string): number {
  const v = typeof text === 'string' ? parseIpv4Address(text) : null;
  if (v === null) throw new DhcpConfigError(`${what} ${JSON.stringify(text)} is not an IPv4 address`);
  return v;
}

function macKey(mac: Uint8Array): string {
  return formatMac(mac);
}

export class DhcpServerExtension implements Extension {
  readonly name: string;
  readonly kind = 'filter' as const;
  private context: ExtensionContext | null = null;
  readonly serverIp: number;
  readonly network: number;
  readonly mask: number;
  private readonly broadcast: number;
  private readonly gateway: number | null;
  private readonly dns: number[];
  readonly leaseSeconds: number;
  private readonly serverMac: Uint8Array;
  private readonly vlan: number | null;
  private readonly poolFrom: number;
  private readonly poolTo: number;
  /** MAC -> reserved address, and the reserved addresses (no pool client gets them). */
  private readonly reservations = new Map<string, number>();
  private readonly reservedIps = new Set<number>();
  private readonly leases = new Map<string, Lease>();
  private readonly leasedIps = new Map<number, string>();
  /** Addresses a client declined (in use by someone else), until this clock time. */
  private readonly declined = new Map<number, number>();
  private readonly stats: DhcpServerCounters = {
    received: { discover: 0, request: 0, decline: 0, release: 0, inform: 0, other: 0 },
    sent: { offer: 0, ack: 0, nak: 0 },
    ignored: 0,
    refused: 0,
    arpReplies: 0,
    malformed: {},
  };

  constructor(options: DhcpServerOptions) {
    if (!options || typeof options !== 'object') throw new DhcpConfigError('options are required');
    this.name = options.name ?? 'dhcp-server';
    const [netText, prefixText, extra] = String(options.subnet).split('/');
    const prefix = Number(prefixText);
    if (extra !== undefined || prefixText === undefined || !/^\d{1,2}$/.test(prefixText) || prefix < 1 || prefix > 30) {
      throw new DhcpConfigError(`subnet ${JSON.stringify(options.subnet)} must be CIDR with a prefix 1..30`);
    }
    this.mask = (0xffffffff << (32 - prefix)) >>> 0;
    this.network = (ipv4(netText!, 'subnet') & this.mask) >>> 0;
    this.broadcast = (this.network | ~this.mask) >>> 0;
    const inside = (ip: number, what: string): number => {
      if (((ip & this.mask) >>> 0) !== this.network || ip === this.network || ip === this.broadcast) {
        throw new DhcpConfigError(`${what} ${formatIpv4(ip)} is not a host address of ${options.subnet}`);
      }
      return ip;
    };
    this.serverIp = inside(ipv4(options.serverIp, 'serverIp'), 'serverIp');
    this.gateway = options.gateway !== undefined ? inside(ipv4(options.gateway, 'gateway'), 'gateway') : null;
    const dns = options.dns === undefined ? [] : Array.isArray(options.dns) ? options.dns : [options.dns];
    if (dns.length > 16) throw new DhcpConfigError('at most 16 DNS servers');
    this.dns = dns.map((d) => ipv4(d, 'dns'));
    this.leaseSeconds = options.leaseSeconds ?? 3600;
    if (!Number.isInteger(this.leaseSeconds) || this.leaseSeconds < 60 || this.leaseSeconds > 0xfffffffe) {
      throw new DhcpConfigError(`leaseSeconds ${options.leaseSeconds} must be an integer 60..4294967294`);
    }
    try {
      this.serverMac = parseMac(options.serverMac ?? '02:56:4d:44:48:43');
    } catch {
      throw new DhcpConfigError(`serverMac ${JSON.stringify(options.serverMac)} is not a MAC address`);
    }
    if (options.vlan !== undefined && !(Number.isInteger(options.vlan) && options.vlan >= 0 && options.vlan <= 4094)) {
      throw new DhcpConfigError(`vlan ${options.vlan} must be 0..4094`);
    }
    this.vlan = options.vlan ?? null;
    if (!Array.isArray(options.reservations)) throw new DhcpConfigError('reservations must be a list (it may be empty)');
    if (this.gateway === this.serverIp) throw new DhcpConfigError('serverIp and gateway must differ (the server answers ARP for its address)');
    const taken = new Set<number>([this.serverIp, ...(this.gateway !== null ? [this.gateway] : [])]);
    for (const r of options.reservations) {
      let mac: Uint8Array;
      try {
        mac = parseMac(r?.mac);
      } catch {
        throw new DhcpConfigError(`reservation MAC ${JSON.stringify(r?.mac)} is not a MAC address`);
      }
      const ip = inside(ipv4(r.ip, 'reservation'), 'reservation');
      const key = macKey(mac);
      if (this.reservations.has(key)) throw new DhcpConfigError(`MAC ${key} is reserved twice`);
      if (taken.has(ip) || this.reservedIps.has(ip)) throw new DhcpConfigError(`reservation ${r.ip} is taken (server, gateway or another reservation)`);
      this.reservations.set(key, ip);
      this.reservedIps.add(ip);
    }
    if (options.pool) {
      this.poolFrom = inside(ipv4(options.pool.from, 'pool.from'), 'pool.from');
      this.poolTo = inside(ipv4(options.pool.to, 'pool.to'), 'pool.to');
      if (this.poolFrom > this.poolTo) throw new DhcpConfigError('pool.from is above pool.to');
      if (this.poolTo - this.poolFrom + 1 > MAX_POOL) throw new DhcpConfigError(`a pool holds at most ${MAX_POOL} addresses`);
    } else {
      this.poolFrom = 1;
      this.poolTo = 0;
    }
  }

  attach(context: ExtensionContext): void {
    this.context = context;
  }

  detach(): void {
    this.context = null;
  }

  counters(): DhcpServerCounters {
    return structuredClone(this.stats);
  }

  /** Current leases (expired ones left out). */
  leaseTable(): DhcpLease[] {
    const now = this.context?.now() ?? -Infinity;
    const out: DhcpLease[] = [];
    for (const [mac, l] of this.leases) if (l.expiresAt > now) out.push({ mac, ip: formatIpv4(l.ip), state: l.state, expiresAt: l.expiresAt });
    return out;
  }

  ingress(batch: IngressBatch): void {
    const context = this.context;
    if (!context) return;
    for (let i = 0; i < batch.count; i++) {
      if (batch.isDropped(i)) continue;
      const data = batch.frame(i).data;
      // Cheap reject first: IPv4, ARP or a VLAN tag, then UDP port 67 (locateDhcp).
      const t = data.length >= 14 ? data[12]! : 0;
      if (t !== 0x08 && t !== 0x81 && t !== 0x88) continue;
      if (this.arpFor(data) !== null) {
        if (this.vlan === null || batch.vlan(i) === this.vlan) this.answerArp(context, batch, i);
        continue;
      }
      const where = locateDhcp(data);
      if (where === null) continue;
      if (typeof where === 'string') {
        this.malformed(batch, i, where);
        continue;
      }
      const message = parseDhcp(data, where.payload, where.payloadLength);
      if (typeof message === 'string') {
        this.malformed(batch, i, message);
        continue;
      }
      // A BOOTREPLY to port 67 is another server's or relay's business.
      if (message.op !== 1) continue;
      if (this.vlan !== null && batch.vlan(i) !== this.vlan) continue;
      // To us, or broadcast (a client without an address); another server's unicast is not ours.
      if (where.dstIp !== this.serverIp && where.dstIp !== 0xffffffff) continue;
      const src = batch.source(i);
      if (!src) continue;
      this.answer(context, message, src.portId, src.index, batch.vlan(i));
    }
  }

  /** Offset of an ARP request for serverIp (behind up to two tags), or null. */
  private arpFor(data: Uint8Array): number | null {
    let off = 12;
    for (let k = 0; k < 2 && off + 2 <= data.length; k++) {
      const tpid = (data[off]! << 8) | data[off + 1]!;
      if (tpid !== 0x8100 && tpid !== 0x88a8) break;
      off += 4;
    }
    if (off + 2 + 28 > data.length || data[off] !== 0x08 || data[off + 1] !== 0x06) return null;
    const a = off + 2;
    // Ethernet/IPv4, lengths 6 and 4, a request.
    if (data[a] !== 0 || data[a + 1] !== 1 || data[a + 2] !== 8 || data[a + 3] !== 0 || data[a + 4] !== 6 || data[a + 5] !== 4 || data[a + 6] !== 0 || data[a + 7] !== 1) return null;
    const target = ((data[a + 24]! << 24) | (data[a + 25]! << 16) | (data[a + 26]! << 8) | data[a + 27]!) >>> 0;
    return target === this.serverIp ? a : null;
  }

  private answerArp(context: ExtensionContext, batch: IngressBatch, i: number): void {
    const src = batch.source(i);
    const data = batch.frame(i).data;
    const a = this.arpFor(data);
    if (!src || a === null) return;
    const reply = new Uint8Array(42);
    reply.set(data.subarray(a + 8, a + 14), 0);
    reply.set(this.serverMac, 6);
    reply[12] = 0x08;
    reply[13] = 0x06;
    reply.set([0, 1, 8, 0, 6, 4, 0, 2], 14);
    reply.set(this.serverMac, 22);
    reply.set(data.subarray(a + 24, a + 28), 28);
    reply.set(data.subarray(a + 8, a + 18), 32);
    const result = context.inject([{ data: reply }], { destination: { portId: src.portId, nicIndex: src.index }, vlan: batch.vlan(i) });
    if (result.accepted) this.stats.arpReplies++;
    else this.stats.refused++;
  }

  private malformed(batch: IngressBatch, i: number, problem: DhcpProblem): void {
    this.stats.malformed[problem] = (this.stats.malformed[problem] ?? 0) + 1;
    batch.drop(i, EXTENSION_DROP_REASONS.dhcpMalformed);
  }

  private answer(context: ExtensionContext, m: DhcpMessage, portId: number, nicIndex: number, vlan: number): void {
    const now = context.now();
    const key = macKey(m.chaddr);
    // Relayed messages (giaddr set) would need replies through the relay: not served.
    if (m.giaddr !== 0) {
      this.stats.ignored++;
      return;
    }
    switch (m.type) {
      case DhcpType.discover: {
        this.stats.received.discover++;
        const ip = this.choose(key, m.requestedIp, now);
        if (ip === null) {
          this.stats.ignored++;
          return;
        }
        const lease = this.leases.get(key);
        if (!lease || lease.ip !== ip || lease.state !== 'bound' || lease.expiresAt <= now) this.setLease(key, ip, 'offered', now + OFFER_HOLD_MS);
        this.reply(context, DhcpType.offer, m, ip, portId, nicIndex, vlan);
        return;
      }
      case DhcpType.request: {
        this.stats.received.request++;
        if (m.serverId !== null && m.serverId !== this.serverIp) {
          // The client chose another server: forget our offer.
          const lease = this.leases.get(key);
          if (lease && lease.state === 'offered') this.dropLease(key);
          this.stats.ignored++;
          return;
        }
        const wanted = m.serverId !== null ? (m.requestedIp ?? m.ciaddr) : m.ciaddr !== 0 ? m.ciaddr : m.requestedIp;
        if (wanted === null || wanted === 0) {
          this.stats.ignored++;
          return;
        }
        const mine = this.allocated(key, now);
        if (mine === null && m.serverId === null) {
          // INIT-REBOOT or RENEW from a client we have no record of: silent (RFC 2131 4.3.2), unless it is off our subnet.
          if (((wanted & this.mask) >>> 0) !== this.network) this.reply(context, DhcpType.nak, m, 0, portId, nicIndex, vlan);
          else this.stats.ignored++;
          return;
        }
        if (mine !== wanted) {
          this.reply(context, DhcpType.nak, m, 0, portId, nicIndex, vlan);
          return;
        }
        this.setLease(key, wanted, 'bound', now + this.leaseSeconds * 1000);
        this.reply(context, DhcpType.ack, m, wanted, portId, nicIndex, vlan);
        return;
      }
      case DhcpType.decline: {
        this.stats.received.decline++;
        const ip = m.requestedIp;
        if (m.serverId === this.serverIp && ip !== null && this.leases.get(key)?.ip === ip) {
          this.dropLease(key);
          this.declined.set(ip, now + this.leaseSeconds * 1000);
        }
        return;
      }
      case DhcpType.release: {
        this.stats.received.release++;
        if (m.serverId === this.serverIp && this.leases.get(key)?.ip === m.ciaddr) this.dropLease(key);
        return;
      }
      case DhcpType.inform: {
        this.stats.received.inform++;
        if (m.ciaddr === 0) {
          this.stats.ignored++;
          return;
        }
        this.reply(context, DhcpType.ack, m, 0, portId, nicIndex, vlan, true);
        return;
      }
      default:
        this.stats.received.other++;
        this.stats.ignored++;
    }
  }

  /** The client's address if it has one: its reservation, or an unexpired lease. */
  private allocated(key: string, now: number): number | null {
    const reserved = this.reservations.get(key);
    if (reserved !== undefined) return reserved;
    const lease = this.leases.get(key);
    return lease && lease.expiresAt > now ? lease.ip : null;
  }

  private choose(key: string, requested: number | null, now: number): number | null {
    const reserved = this.reservations.get(key);
    if (reserved !== undefined) return reserved;
    const lease = this.leases.get(key);
    // An expired lease's address is still this client's if nobody took it since.
    if (lease && (lease.expiresAt > now || this.free(lease.ip, now, key))) return lease.ip;
    if (requested !== null && requested >= this.poolFrom && requested <= this.poolTo && this.free(requested, now, key)) return requested;
    for (let ip = this.poolFrom; ip <= this.poolTo; ip++) if (this.free(ip, now, key)) return ip;
    return null;
  }

  private free(ip: number, now: number, key: string): boolean {
    if (ip === this.serverIp || ip === this.gateway || this.reservedIps.has(ip) || this.dns.includes(ip)) return false;
    const until = this.declined.get(ip);
    if (until !== undefined) {
      if (until > now) return false;
      this.declined.delete(ip);
    }
    const holder = this.leasedIps.get(ip);
    if (holder === undefined || holder === key) return true;
    const other = this.leases.get(holder);
    if (other && other.expiresAt > now) return false;
    this.dropLease(holder);
    return true;
  }

  private setLease(key: string, ip: number, state: Lease['state'], expiresAt: number): void {
    const old = this.leases.get(key);
    if (old && old.ip !== ip) this.leasedIps.delete(old.ip);
    this.leases.set(key, { ip, state, expiresAt });
    this.leasedIps.set(ip, key);
  }

  private dropLease(key: string): void {
    const old = this.leases.get(key);
    if (!old) return;
    this.leases.delete(key);
    if (this.leasedIps.get(old.ip) === key) this.leasedIps.delete(old.ip);
  }

  private reply(context: ExtensionContext, type: number, m: DhcpMessage, yiaddr: number, portId: number, nicIndex: number, vlan: number, inform = false): void {
    // RFC 2131 4.1: NAKs broadcast; to a client with an address, unicast to it; else as the broadcast bit asks.
    const broadcastBit = (m.flags & 0x8000) !== 0;
    let dstIp: number;
    let dstMac: Uint8Array;
    if (type === DhcpType.nak) {
      dstIp = 0xffffffff;
      dstMac = BROADCAST_MAC;
    } else if (m.ciaddr !== 0) {
      dstIp = m.ciaddr;
      dstMac = m.chaddr;
    } else if (broadcastBit) {
      dstIp = 0xffffffff;
      dstMac = BROADCAST_MAC;
    } else {
      dstIp = yiaddr;
      dstMac = m.chaddr;
    }
    const withLease = type !== DhcpType.nak && !inform;
    const data = buildDhcpReply({
      type,
      request: m,
      yiaddr,
      serverIp: this.serverIp,
      serverMac: this.serverMac,
      dstMac,
      dstIp,
      ...(type !== DhcpType.nak ? { subnetMask: this.mask, routers: this.gateway !== null ? [this.gateway] : [], dns: this.dns } : {}),
      ...(withLease ? { leaseSeconds: this.leaseSeconds } : {}),
    });
    const frame: Frame = { data };
    const result = context.inject([frame], { destination: { portId, nicIndex }, vlan });
    if (!result.accepted) {
      this.stats.refused++;
      return;
    }
    if (type === DhcpType.offer) this.stats.sent.offer++;
    else if (type === DhcpType.ack) this.stats.sent.ack++;
    else this.stats.sent.nak++;
  }
}

const BROADCAST_MAC = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
