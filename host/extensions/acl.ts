// ACL filter extension: first matching rule wins, allow or deny, on ingress.
// Matches source/destination MAC, ethertype, IPv4 and IPv6 source and
// destination prefix, IP protocol and TCP/UDP ports; counts hits per rule.
//
// What a rule looks at (so that tags, IPv6 and header chains do not slip by):
// - The innermost payload: up to MAX_VLAN_TAGS 802.1Q/802.1ad tags are
//   skipped; `ethertype` is the one behind them.
// - IPv4 and IPv6 alike. An address prefix names its family ("10.0.0.0/8",
//   "2001:db8::/32") and matches only packets of that family; protocol and
//   ports apply to both. The protocol is the upper layer: IPv6 extension
//   headers (hop-by-hop, routing, fragment, destination options, AH) and an
//   IPv4 AH header are walked, at most MAX_EXTENSION_HEADERS of them.
// - `icmp` matches ICMP of either family (IPv4 protocol 1, ICMPv6 58):
//   "deny icmp" means no ping over IPv6 either. ICMPv6 carries IPv6
//   neighbour discovery, so such a rule also cuts IPv6 between the hosts;
//   `icmpv6` matches ICMPv6 only, `protocol: 1` ICMPv4 only.
// - Ports exist for TCP and UDP in an unfragmented packet or a first
//   fragment. A later fragment has none: no rule with a port condition
//   matches it, allow or deny (its first fragment, which has the ports, was
//   judged; without that one the datagram is never reassembled).
// - A frame the ACL cannot read where a rule needs it (more tags than
//   MAX_VLAN_TAGS, an IP header or header chain cut short or too long, the
//   ports of a first fragment missing) fails closed: an unknown condition
//   satisfies a deny rule and fails an allow rule. A frame that is not IP
//   at all (ARP) matches no rule with an IP condition.
import type { Extension, IngressBatch } from '../extension.ts';
import { readU32BE } from '../../emulator/net/checksum.ts';
import { ETH_TYPE_IPV4, ETH_TYPE_IPV6, ETH_TYPE_VLAN, parseMac } from '../../emulator/net/frame.ts';
import { macKey } from './mac-learning.ts';
import { ETH_TYPE_SERVICE_VLAN } from './vlan.ts';
import { EXTENSION_DROP_REASONS, aclRuleReason, type AclRuleDropReason } from '../drop-reasons.ts';

export type PortRange = number | [number, number];

export interface AclRule {
  /** Shown in drop reasons ("acl:NAME") and counters; default "rule N". */
  name?: string;
  action: 'allow' | 'deny';
  /** Only frames from these source ports (port 0: originated by extensions). */
  sourcePorts?: number[];
  srcMac?: string;
  dstMac?: string;
  /** The ethertype behind any VLAN tags. */
  ethertype?: number;
  /** "10.0.0.0/8", "10.1.2.3" (/32), "2001:db8::/32" or "2001:db8::1" (/128): matches packets of that family only. */
  srcIp?: string;
  dstIp?: string;
  /** IP protocol number (IPv4 protocol, IPv6 upper-layer next header) or name: `icmp` is ICMPv4 or ICMPv6, `icmpv6` ICMPv6 only. */
  protocol?: number | 'icmp' | 'icmpv6' | 'tcp' | 'udp';
  srcPort?: PortRange;
  dstPort?: PortRange;
}

export interface AclOptions {
  name?: string;
  rules?: AclRule[];
  /** What happens when no rule matches (default allow). */
  defaultAction?: 'allow' | 'deny';
}

export interface AclRuleCounter {
  name: string;
  action: 'allow' | 'deny';
  hits: number;
}

/** Tags skipped to reach the payload; a frame with more is unreadable (fails closed). */
export const MAX_VLAN_TAGS = 4;
/** IPv6 extension headers (and IPv4 AH) walked to reach the upper layer; more is unreadable. */
export const MAX_EXTENSION_HEADERS = 8;

const IPPROTO_HOPOPTS = 0;
const IPPROTO_ROUTING = 43;
const IPPROTO_FRAGMENT = 44;
const IPPROTO_AH = 51;
const IPPROTO_DSTOPTS = 60;

/** A protocol condition for one family that nothing matches ('icmpv6' on IPv4). */
const NEVER = -2;
/** [IPv4 protocol, IPv6 next header] per name. */
const PROTOCOLS: Record<string, [number, number]> = { icmp: [1, 58], icmpv6: [NEVER, 58], tcp: [6, 6], udp: [17, 17] };

/** A port value: the packet has no ports (not TCP/UDP, a later fragment): port conditions are false. */
const NO_PORT = -1;
/** A port value, a protocol or an ethertype: could not be read (fails closed). */
const UNKNOWN = -2;

const FALSE = 0;
const TRUE = 1;
const UNKNOWN_RESULT = 2;
type Truth = typeof FALSE | typeof TRUE | typeof UNKNOWN_RESULT;

interface CompiledRule {
  name: string;
  deny: boolean;
  reason: AclRuleDropReason;
  sourcePorts: Set<number> | null;
  srcMac: number;
  dstMac: number;
  ethertype: number;
  /** 0: no source prefix; 4 or 6: the prefix's family. */
  srcFamily: number;
  srcNet: Uint32Array;
  srcMask: Uint32Array;
  dstFamily: number;
  dstNet: Uint32Array;
  dstMask: Uint32Array;
  needsIp: boolean;
  /** -1: any; NEVER; else the protocol number, per family. */
  protocol4: number;
  protocol6: number;
  /** Port ranges as plain numbers (monomorphic, no array per rule); -1 low: no condition. */
  srcPortLow: number;
  srcPortHigh: number;
  dstPortLow: number;
  dstPortHigh: number;
  hits: number;
}

/**
 * What the ACL read of one frame; one instance reused frame after frame (no
 * allocation per frame). Addresses are not copied out: a prefix condition
 * reads them where they are (`l3`), so a rule list without prefixes never
 * touches them.
 */
class Classified {
  /** Behind the tags; UNKNOWN with too many tags or a tag cut short. */
  ethertype = UNKNOWN;
  /** 4, 6, 0 (not IP) or UNKNOWN. */
  family = 0;
  /** The IP header is whole: the addresses can be read at l3. */
  addressed = false;
  /** The upper-layer protocol, or UNKNOWN. */
  protocol = UNKNOWN;
  sport = NO_PORT;
  dport = NO_PORT;
  /** The IP part is parsed (lazily: only when a rule needs it). */
  ipParsed = false;
  l3 = 0;

  /** Reads the tags; the IP part waits for parseIp. */
  read(data: Uint8Array): void {
    this.ipParsed = false;
    this.family = UNKNOWN;
    this.ethertype = UNKNOWN;
    if (data.length < 14) return;
    let offset = 12;
    let type = (data[12]! << 8) | data[13]!;
    for (let tags = 0; type === ETH_TYPE_VLAN || type === ETH_TYPE_SERVICE_VLAN; tags++) {
      if (tags === MAX_VLAN_TAGS || data.length < offset + 6) return;
      offset += 4;
      type = (data[offset]! << 8) | data[offset + 1]!;
    }
    this.ethertype = type;
    this.l3 = offset + 2;
    this.family = type === ETH_TYPE_IPV4 ? 4 : type === ETH_TYPE_IPV6 ? 6 : 0;
  }

  /** Sets addressed, protocol and ports (UNKNOWN what cannot be read). */
  parseIp(data: Uint8Array): void {
    this.ipParsed = true;
    const done = this.family === 4 ? this.parseIpv4(data, this.l3) : this.family === 6 && this.parseIpv6(data, this.l3);
    if (!done) this.unreadable();
  }

  /** False when the header is cut short or not IPv4. */
  private parseIpv4(data: Uint8Array, l3: number): boolean {
    if (data.length < l3 + 20 || data[l3]! >> 4 !== 4) return false;
    const ihl = (data[l3]! & 0x0f) * 4;
    if (ihl < 20 || data.length < l3 + ihl) return false;
    this.addressed = true;
    const laterFragment = (((data[l3 + 6]! & 0x1f) << 8) | data[l3 + 7]!) !== 0;
    const next = data[l3 + 9]!;
    // AH is IPv4's only header to walk; anything else is the upper layer itself.
    if (next === IPPROTO_AH) this.walkExtensions(data, l3 + ihl, next, false, laterFragment);
    else this.upperLayer(data, l3 + ihl, next, laterFragment);
    return true;
  }

  private parseIpv6(data: Uint8Array, l3: number): boolean {
    if (data.length < l3 + 40 || data[l3]! >> 4 !== 6) return false;
    this.addressed = true;
    const next = data[l3 + 6]!;
    if (isExtensionHeader(next, true)) this.walkExtensions(data, l3 + 40, next, true, false);
    else this.upperLayer(data, l3 + 40, next, false);
    return true;
  }

  private unreadable(): void {
    this.addressed = false;
    this.protocol = UNKNOWN;
    this.sport = this.dport = UNKNOWN;
  }

  /** The upper-layer protocol `next` at `offset`: its ports when TCP/UDP in a first fragment. */
  private upperLayer(data: Uint8Array, offset: number, next: number, laterFragment: boolean): void {
    this.protocol = next;
    if (laterFragment || (next !== 6 && next !== 17)) {
      // A later fragment's bytes here are the middle of the datagram: no header to read, no ports.
      this.sport = this.dport = NO_PORT;
    } else if (data.length >= offset + 4) {
      this.sport = (data[offset]! << 8) | data[offset + 1]!;
      this.dport = (data[offset + 2]! << 8) | data[offset + 3]!;
    } else {
      this.sport = this.dport = UNKNOWN;
    }
  }

  /** Walks extension headers (bounded) to the upper-layer protocol and its ports. */
  private walkExtensions(data: Uint8Array, offset: number, next: number, ipv6: boolean, laterFragment: boolean): void {
    for (let walked = 0; ; walked++) {
      if (!isExtensionHeader(next, ipv6)) {
        this.upperLayer(data, offset, next, laterFragment);
        return;
      }
      // Behind a later fragment no header can be read: the protocol is unknown.
      if (laterFragment || walked === MAX_EXTENSION_HEADERS || data.length < offset + 8) {
        this.protocol = UNKNOWN;
        this.sport = this.dport = UNKNOWN;
        return;
      }
      const following = data[offset]!;
      if (next === IPPROTO_FRAGMENT) {
        laterFragment = ((data[offset + 2]! << 8) | data[offset + 3]!) >> 3 !== 0;
        offset += 8;
      } else {
        offset += next === IPPROTO_AH ? (data[offset + 1]! + 2) * 4 : (data[offset + 1]! + 1) * 8;
      }
      next = following;
    }
  }
}

function isExtensionHeader(next: number, ipv6: boolean): boolean {
  return next === IPPROTO_AH || (ipv6 && (next === IPPROTO_HOPOPTS || next === IPPROTO_ROUTING || next === IPPROTO_FRAGMENT || next === IPPROTO_DSTOPTS));
}

export class AclFilter implements Extension {
  readonly name: string;
  readonly kind = 'filter' as const;
  private rules: CompiledRule[] = [];
  private defaultDeny = false;
  private readonly seen = new Classified();
  defaultHits = 0;

  constructor(options: AclOptions = {}) {
    this.name = options.name ?? 'acl';
    this.setRules(options.rules ?? [], options.defaultAction ?? 'allow');
  }

  /** Replaces the rule list (validated first: a bad rule throws and nothing changes). */
  setRules(rules: readonly AclRule[], defaultAction: 'allow' | 'deny' = this.defaultDeny ? 'deny' : 'allow'): void {
    if (defaultAction !== 'allow' && defaultAction !== 'deny') throw new Error(`ACL default action must be allow or deny`);
    const compiled = rules.map((rule, index) => compileRule(rule, index));
    this.rules = compiled;
    this.defaultDeny = defaultAction === 'deny';
    this.defaultHits = 0;
  }

  counters(): AclRuleCounter[] {
    return this.rules.map((r) => ({ name: r.name, action: r.deny ? 'deny' : 'allow', hits: r.hits }));
  }

  ingress(batch: IngressBatch): void {
    const rules = this.rules;
    const n = batch.count;
    for (let i = 0; i < n; i++) {
      if (batch.isDropped(i)) continue;
      const data = batch.frame(i).data;
      const rule = this.match(data, batch.sourcePortId(i), rules);
      if (rule === null) {
        this.defaultHits++;
        if (this.defaultDeny) batch.drop(i, EXTENSION_DROP_REASONS.aclDefault);
        continue;
      }
      rule.hits++;
      if (rule.deny) batch.drop(i, rule.reason);
    }
  }

  private match(data: Uint8Array, sourcePort: number, rules: CompiledRule[]): CompiledRule | null {
    if (rules.length === 0) return null;
    const seen = this.seen;
    seen.read(data);
    for (let r = 0; r < rules.length; r++) {
      const rule = rules[r]!;
      if (rule.sourcePorts !== null && !rule.sourcePorts.has(sourcePort)) continue;
      if (rule.srcMac >= 0 && macKey(data, 6) !== rule.srcMac) continue;
      if (rule.dstMac >= 0 && macKey(data, 0) !== rule.dstMac) continue;
      let unknown = false;
      if (rule.ethertype >= 0) {
        if (seen.ethertype === UNKNOWN) unknown = true;
        else if (seen.ethertype !== rule.ethertype) continue;
      }
      if (rule.needsIp) {
        const truth = ipConditions(rule, seen, data);
        if (truth === FALSE) continue;
        if (truth === UNKNOWN_RESULT) unknown = true;
      }
      // Fail closed: what cannot be read counts for a deny and against an allow.
      if (unknown && !rule.deny) continue;
      return rule;
    }
    return null;
  }
}

function ipConditions(rule: CompiledRule, seen: Classified, data: Uint8Array): Truth {
  const family = seen.family;
  if (family === 0) return FALSE;
  if (family === UNKNOWN) return UNKNOWN_RESULT;
  if (!seen.ipParsed) seen.parseIp(data);
  let unknown = false;
  if (rule.srcFamily !== 0 || rule.dstFamily !== 0) {
    const prefixes = prefixConditions(rule, seen, data);
    if (prefixes === FALSE) return FALSE;
    if (prefixes === UNKNOWN_RESULT) unknown = true;
  }
  const protocol = family === 4 ? rule.protocol4 : rule.protocol6;
  if (protocol !== -1) {
    if (protocol === NEVER) return FALSE;
    if (seen.protocol === UNKNOWN) unknown = true;
    else if (seen.protocol !== protocol) return FALSE;
  }
  if (rule.srcPortLow >= 0) {
    const sport = seen.sport;
    if (sport === NO_PORT) return FALSE;
    if (sport === UNKNOWN) unknown = true;
    else if (sport < rule.srcPortLow || sport > rule.srcPortHigh) return FALSE;
  }
  if (rule.dstPortLow >= 0) {
    const dport = seen.dport;
    if (dport === NO_PORT) return FALSE;
    if (dport === UNKNOWN) unknown = true;
    else if (dport < rule.dstPortLow || dport > rule.dstPortHigh) return FALSE;
  }
  return unknown ? UNKNOWN_RESULT : TRUE;
}

/** The rule's address prefixes against the packet's addresses, read in place (IPv4 at l3+12/16, IPv6 at l3+8/24). */
function prefixConditions(rule: CompiledRule, seen: Classified, data: Uint8Array): Truth {
  const family = seen.family;
  const words = family === 4 ? 1 : 4;
  let unknown = false;
  if (rule.srcFamily !== 0) {
    if (rule.srcFamily !== family) return FALSE;
    if (!seen.addressed) unknown = true;
    else if (!inPrefix(data, seen.l3 + (family === 4 ? 12 : 8), words, rule.srcNet, rule.srcMask)) return FALSE;
  }
  if (rule.dstFamily !== 0) {
    if (rule.dstFamily !== family) return FALSE;
    if (!seen.addressed) unknown = true;
    else if (!inPrefix(data, seen.l3 + (family === 4 ? 16 : 24), words, rule.dstNet, rule.dstMask)) return FALSE;
  }
  return unknown ? UNKNOWN_RESULT : TRUE;
}

/** Whether the `words` big-endian words at `at` are in the prefix (net, mask). */
function inPrefix(data: Uint8Array, at: number, words: number, net: Uint32Array, mask: Uint32Array): boolean {
  for (let w = 0; w < words; w++) if ((readU32BE(data, at + 4 * w) & mask[w]!) >>> 0 !== net[w]) return false;
  return true;
}

/** An IPv6 address ("2001:db8::1", "::ffff:10.0.0.1") as 4 big-endian words, or null. */
export function parseIpv6Address(text: string): Uint32Array | null {
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groups = (part: string, last: boolean): number[] | null => {
    if (part === '') return [];
    const out: number[] = [];
    const items = part.split(':');
    for (const [i, item] of items.entries()) {
      if (last && i === items.length - 1 && item.includes('.')) {
        const v4 = parseIpv4Address(item);
        if (v4 === null) return null;
        out.push(v4 >>> 16, v4 & 0xffff);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(item)) {
        out.push(parseInt(item, 16));
      } else {
        return null;
      }
    }
    return out;
  };
  const compressed = halves.length === 2;
  const head = groups(halves[0]!, !compressed);
  const tail = compressed ? groups(halves[1]!, true) : [];
  if (head === null || tail === null) return null;
  if (compressed ? head.length + tail.length > 7 : head.length !== 8) return null;
  const all = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  const words = new Uint32Array(4);
  for (let w = 0; w < 4; w++) words[w] = ((all[2 * w]! << 16) | all[2 * w + 1]!) >>> 0;
  return words;
}

/** A dotted IPv4 address as a number, or null. */
export function parseIpv4Address(text: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return null;
  const octets = m.slice(1, 5).map(Number);
  if (octets.some((o) => o > 255)) return null;
  return ((octets[0]! << 24) | (octets[1]! << 16) | (octets[2]! << 8) | octets[3]!) >>> 0;
}

/** The mask of a /length prefix over `bits` (32 or 128) as 4 words. */
function prefixMask(length: number, bits: number): Uint32Array {
  const mask = new Uint32Array(4);
  for (let w = 0; w < bits / 32; w++) {
    const inWord = Math.max(0, Math.min(32, length - 32 * w));
    mask[w] = inWord === 0 ? 0 : (0xffffffff << (32 - inWord)) >>> 0;
  }
  return mask;
}

function compileRule(rule: AclRule, index: number): CompiledRule {
  const name = rule.name ?? `rule ${index + 1}`;
  const where = `ACL rule ${JSON.stringify(name)}`;
  if (rule.action !== 'allow' && rule.action !== 'deny') throw new Error(`${where}: action must be allow or deny`);
  const prefix = (text: string | undefined): { family: number; net: Uint32Array; mask: Uint32Array } => {
    const none = { family: 0, net: new Uint32Array(4), mask: new Uint32Array(4) };
    if (text === undefined) return none;
    const m = /^([^/]*)(?:\/(\d{1,3}))?$/.exec(typeof text === 'string' ? text : '');
    const ipv6 = typeof text === 'string' && text.includes(':');
    const bits = ipv6 ? 128 : 32;
    const length = m && m[2] !== undefined ? Number(m[2]) : bits;
    let address: Uint32Array | null = null;
    if (m && ipv6) address = parseIpv6Address(m[1]!);
    else if (m) {
      const v4 = parseIpv4Address(m[1]!);
      if (v4 !== null) address = Uint32Array.of(v4, 0, 0, 0);
    }
    if (address === null || length > bits) throw new Error(`${where}: not an ${ipv6 ? 'IPv6' : 'IPv4'} prefix: ${JSON.stringify(text)}`);
    // A /0 prefix only requires a packet of its family.
    const mask = prefixMask(length, bits);
    const net = new Uint32Array(4);
    for (let w = 0; w < 4; w++) net[w] = (address[w]! & mask[w]!) >>> 0;
    return { family: ipv6 ? 6 : 4, net, mask };
  };
  const range = (value: PortRange | undefined, field: string): [number, number] | null => {
    if (value === undefined) return null;
    const [lo, hi] = typeof value === 'number' ? [value, value] : value;
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 0 || hi > 65535 || lo > hi) throw new Error(`${where}: bad ${field}`);
    return [lo, hi];
  };
  const mac = (text: string | undefined): number => {
    if (text === undefined) return -1;
    try {
      return macKey(parseMac(text), 0);
    } catch {
      throw new Error(`${where}: not a MAC address: ${JSON.stringify(text)}`);
    }
  };
  let protocol4 = -1;
  let protocol6 = -1;
  if (rule.protocol !== undefined) {
    const named = typeof rule.protocol === 'string' ? PROTOCOLS[rule.protocol] : undefined;
    const number = typeof rule.protocol === 'number' ? rule.protocol : -3;
    if (named) [protocol4, protocol6] = named;
    else if (Number.isInteger(number) && number >= 0 && number <= 255) protocol4 = protocol6 = number;
    else throw new Error(`${where}: bad protocol ${String(rule.protocol)}`);
  }
  if (rule.ethertype !== undefined && !(Number.isInteger(rule.ethertype) && rule.ethertype >= 0 && rule.ethertype <= 0xffff)) {
    throw new Error(`${where}: bad ethertype`);
  }
  const src = prefix(rule.srcIp);
  const dst = prefix(rule.dstIp);
  const srcPort = range(rule.srcPort, 'srcPort');
  const dstPort = range(rule.dstPort, 'dstPort');
  const needsIp = src.family !== 0 || dst.family !== 0 || protocol4 !== -1 || srcPort !== null || dstPort !== null;
  return {
    name,
    deny: rule.action === 'deny',
    reason: aclRuleReason(name),
    sourcePorts: rule.sourcePorts ? new Set(rule.sourcePorts) : null,
    srcMac: mac(rule.srcMac),
    dstMac: mac(rule.dstMac),
    ethertype: rule.ethertype ?? -1,
    srcFamily: src.family,
    srcNet: src.net,
    srcMask: src.mask,
    dstFamily: dst.family,
    dstNet: dst.net,
    dstMask: dst.mask,
    needsIp,
    protocol4,
    protocol6,
    srcPortLow: srcPort ? srcPort[0] : -1,
    srcPortHigh: srcPort ? srcPort[1] : -1,
    dstPortLow: dstPort ? dstPort[0] : -1,
    dstPortHigh: dstPort ? dstPort[1] : -1,
    hits: 0,
  };
}
