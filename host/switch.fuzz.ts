// Fuzz targets for the switch, played as hostile guests would: random frames
// (any length, stacked 802.1Q/802.1ad tags, IPv4/IPv6 with options and
// extension header chains, TCP/UDP/ICMP, fragments, offload metadata) and a
// random lifecycle (ports and NICs created, connected, disconnected,
// stopped; VLAN access/trunk properties, port security on and off, guest
// and host MAC changes, ACL rules). The expected behaviour comes from small
// reference models written here, not from vlan.ts or acl.ts:
//   switch.acl   the ACL's verdict (rule hit or default) for each frame equals
//                the reference classifier's;
//   switch.walk  after every step: no delivered copy left its VLAN or is
//                malformed, none was ACL-denied or spoofed, every drop has a
//                catalogued reason, counters add up per switch and per port,
//                OIDs follow the seed's order, no port left after stop.
import type { FuzzTarget, Rng } from '../scripts/fuzz/harness.ts';
import type { Frame, GsoType } from '../emulator/net/frame.ts';
import { formatMac } from '../emulator/net/frame.ts';
import { Switch } from './switch.ts';
import { SwitchPortAttachment } from './attach.ts';
import { AclFilter, type AclRule } from './extensions/acl.ts';
import type { IngressBatch } from './extension.ts';
import { MacLearningForwarder } from './extensions/mac-learning.ts';
import type { VlanProperty } from './extensions/vlan.ts';
import { EXTENSION_DROP_REASONS, SWITCH_DROP_REASONS } from './drop-reasons.ts';
import { sumValues } from './counters.ts';
import { BROADCAST, OidLifecycleModel, RecordingSink, ScriptedNic, VirtualClock, mac } from './testing.ts';

// ---- random frames ---------------------------------------------------------

const V4_POOL = [0x0a000001, 0x0a000002, 0x0a0100fe, 0xc0a80001, 0x7f000001];
const V6_POOL: bigint[] = [0x20010db8000000000000000000000001n, 0x20010db8000100000000000000000005n, 0xfe800000000000000000000000000001n, 0x00000000000000000000ffff0a000001n, 0n];
const PORT_POOL = [0, 22, 53, 80, 443, 1023, 1024, 65535];
const EXT_TYPES = [0, 43, 44, 60, 51];

class Bytes {
  readonly out: number[] = [];
  u8(v: number): this {
    this.out.push(v & 0xff);
    return this;
  }
  u16(v: number): this {
    return this.u8(v >> 8).u8(v);
  }
  u32(v: number): this {
    return this.u16(v >>> 16).u16(v & 0xffff);
  }
  u128(v: bigint): this {
    for (let shift = 120n; shift >= 0n; shift -= 8n) this.u8(Number((v >> shift) & 0xffn));
    return this;
  }
  raw(bytes: ArrayLike<number>): this {
    for (let i = 0; i < bytes.length; i++) this.out.push(bytes[i]! & 0xff);
    return this;
  }
}

function l4(rng: Rng, b: Bytes): void {
  b.u16(rng.pick(PORT_POOL)).u16(rng.chance(0.7) ? rng.pick(PORT_POOL) : rng.int(65536));
  b.raw(rng.bytes(rng.int(24)));
}

function protocolFor(rng: Rng): number {
  return rng.chance(0.85) ? rng.pick([1, 6, 17, 58, 51, 6, 17]) : rng.int(256);
}

function ipv4(rng: Rng, b: Bytes): void {
  const ihl = rng.chance(0.8) ? 5 : rng.int(16);
  const version = rng.chance(0.95) ? 4 : rng.int(16);
  b.u8((version << 4) | ihl).u8(0).u16(0).u16(0);
  const fragment = rng.chance(0.8) ? 0 : rng.pick([1, 0x2000, 0x2001, rng.int(0x10000)]);
  b.u16(fragment).u8(64);
  const protocol = protocolFor(rng);
  b.u8(protocol).u16(0).u32(rng.pick(V4_POOL)).u32(rng.pick(V4_POOL));
  b.raw(rng.bytes(Math.max(0, ihl * 4 - 20)));
  if (protocol === 51) b.u8(rng.pick([6, 17, 1])).u8(rng.pick([1, 2, 4])).raw(rng.bytes(rng.pick([10, 14, 22])));
  l4(rng, b);
}

function ipv6(rng: Rng, b: Bytes): void {
  const chain: number[] = [];
  const n = rng.chance(0.5) ? 0 : rng.int(rng.chance(0.8) ? 4 : 11);
  for (let k = 0; k < n; k++) chain.push(rng.chance(0.9) ? rng.pick(EXT_TYPES) : rng.int(256));
  const upper = protocolFor(rng);
  b.u8(rng.chance(0.95) ? 0x60 : rng.int(256)).u8(0).u16(0).u16(0);
  b.u8(chain[0] ?? upper).u8(64).u128(rng.pick(V6_POOL)).u128(rng.pick(V6_POOL));
  for (let k = 0; k < chain.length; k++) {
    const next = chain[k + 1] ?? upper;
    const type = chain[k]!;
    if (type === 44) {
      b.u8(next).u8(0).u16(rng.chance(0.6) ? rng.pick([0, 1]) : rng.int(0x10000)).u32(rng.u32());
    } else if (type === 51) {
      const len = rng.pick([1, 2, 4]);
      b.u8(next).u8(len).raw(rng.bytes((len + 2) * 4 - 2));
    } else {
      const len = rng.chance(0.8) ? 0 : rng.int(3);
      b.u8(next).u8(len).raw(rng.bytes((len + 1) * 8 - 2));
    }
  }
  l4(rng, b);
}

/** A frame from `src` (a hostile guest's choice of everything after it). */
function randomFrame(rng: Rng, src: Uint8Array, macs: readonly Uint8Array[], vlans: readonly number[]): Frame {
  const b = new Bytes();
  const dst = rng.chance(0.3) ? BROADCAST : rng.chance(0.6) && macs.length ? rng.pick(macs) : rng.chance(0.5) ? mac(rng.int(64)) : rng.bytes(6);
  b.raw(dst).raw(src);
  const tags = rng.chance(0.6) ? 0 : rng.chance(0.8) ? 1 + rng.int(2) : rng.int(7);
  for (let k = 0; k < tags; k++) {
    const tpid = rng.chance(0.75) ? 0x8100 : rng.chance(0.8) ? 0x88a8 : 0x9100;
    const vid = rng.chance(0.3) ? 0 : rng.chance(0.8) && vlans.length ? rng.pick(vlans) : rng.pick([0xfff, rng.int(4096)]);
    b.u16(tpid).u16((rng.int(8) << 13) | vid);
  }
  const kind = rng.int(10);
  if (kind < 4) {
    b.u16(0x0800);
    ipv4(rng, b);
  } else if (kind < 8) {
    b.u16(0x86dd);
    ipv6(rng, b);
  } else {
    b.u16(rng.pick([0x0806, 0x88b5, 0x8100, 0x88a8, rng.int(0x10000)]));
    b.raw(rng.bytes(rng.int(40)));
  }
  let data = Uint8Array.from(b.out);
  if (rng.chance(0.15)) data = data.subarray(0, rng.int(data.length + 1)).slice();
  else if (rng.chance(0.2)) {
    const padded = new Uint8Array(data.length + rng.int(rng.chance(0.1) ? 2000 : 60));
    padded.set(data);
    data = padded;
  }
  const frame: Frame = { data };
  const header = 14 + 4 * tags;
  if (rng.chance(0.06)) frame.csum = { start: rng.chance(0.7) ? header + 20 : rng.int(data.length + 8), offset: rng.pick([6, 16, rng.int(64)]) };
  if (rng.chance(0.05)) {
    const type: GsoType = rng.pick(['tcp4', 'tcp6', 'udp4'] as const);
    const headerLength = rng.chance(0.7) ? Math.min(data.length, header + 40) : rng.int(data.length + 8);
    frame.gso = { type, segmentSize: rng.pick([0, 1, 88, 1448, rng.int(70000)]), headerLength };
  }
  return frame;
}

// ---- the reference ACL (written apart from acl.ts, from its documented rules) ----

interface RefRule {
  name: string;
  deny: boolean;
  sourcePorts?: number[];
  srcMac?: Uint8Array;
  dstMac?: Uint8Array;
  ethertype?: number;
  srcIp?: { family: 4 | 6; address: bigint; length: number };
  dstIp?: { family: 4 | 6; address: bigint; length: number };
  protocol?: number | 'icmp' | 'icmpv6' | 'tcp' | 'udp';
  srcPort?: [number, number];
  dstPort?: [number, number];
}

/** null: could not be read; 'none': has no ports. */
interface RefPacket {
  ethertype: number | null;
  family: 0 | 4 | 6 | null;
  src: bigint | null;
  dst: bigint | null;
  protocol: number | null;
  sport: number | 'none' | null;
  dport: number | 'none' | null;
}

const word = (data: Uint8Array, at: number) => (data[at]! << 8) | data[at + 1]!;

function refBig(data: Uint8Array, at: number, bytes: number): bigint {
  let v = 0n;
  for (let i = 0; i < bytes; i++) v = (v << 8n) | BigInt(data[at + i]!);
  return v;
}

function refUpper(data: Uint8Array, at: number, next: number, v6: boolean, later: boolean, depth: number): Pick<RefPacket, 'protocol' | 'sport' | 'dport'> {
  const isExtension = next === 51 || (v6 && [0, 43, 44, 60].includes(next));
  const unknown = { protocol: null, sport: null, dport: null };
  if (later) return isExtension ? unknown : { protocol: next, sport: 'none', dport: 'none' };
  if (!isExtension) {
    if (next !== 6 && next !== 17) return { protocol: next, sport: 'none', dport: 'none' };
    if (data.length < at + 4) return { protocol: next, sport: null, dport: null };
    return { protocol: next, sport: word(data, at), dport: word(data, at + 2) };
  }
  if (depth >= 8 || data.length < at + 8) return unknown;
  if (next === 44) return refUpper(data, at + 8, data[at]!, v6, word(data, at + 2) >> 3 !== 0, depth + 1);
  const length = next === 51 ? (data[at + 1]! + 2) * 4 : (data[at + 1]! + 1) * 8;
  return refUpper(data, at + length, data[at]!, v6, false, depth + 1);
}

function refRead(data: Uint8Array): RefPacket {
  const unknownIp = { src: null, dst: null, protocol: null, sport: null, dport: null };
  if (data.length < 14) return { ethertype: null, family: null, ...unknownIp };
  let at = 12;
  let tags = 0;
  while (word(data, at) === 0x8100 || word(data, at) === 0x88a8) {
    tags++;
    if (tags > 4 || data.length < at + 6) return { ethertype: null, family: null, ...unknownIp };
    at += 4;
  }
  const ethertype = word(data, at);
  const l3 = at + 2;
  if (ethertype === 0x0800) {
    const ihl = (data[l3]! & 15) * 4;
    if (data.length < l3 + 20 || data[l3]! >> 4 !== 4 || ihl < 20 || data.length < l3 + ihl) return { ethertype, family: 4, ...unknownIp };
    const later = (word(data, l3 + 6) & 0x1fff) !== 0;
    return { ethertype, family: 4, src: refBig(data, l3 + 12, 4), dst: refBig(data, l3 + 16, 4), ...refUpper(data, l3 + ihl, data[l3 + 9]!, false, later, 0) };
  }
  if (ethertype === 0x86dd) {
    if (data.length < l3 + 40 || data[l3]! >> 4 !== 6) return { ethertype, family: 6, ...unknownIp };
    return { ethertype, family: 6, src: refBig(data, l3 + 8, 16), dst: refBig(data, l3 + 24, 16), ...refUpper(data, l3 + 40, data[l3 + 6]!, true, false, 0) };
  }
  return { ethertype, family: 0, ...unknownIp };
}

type Tri = 'yes' | 'no' | 'unknown';

/** Whether the rule matches: every condition yes, or (deny rules only) yes-or-unknown. */
function refMatches(rule: RefRule, data: Uint8Array, sourcePort: number, p: RefPacket): boolean {
  const results: Tri[] = [];
  if (rule.sourcePorts) results.push(rule.sourcePorts.includes(sourcePort) ? 'yes' : 'no');
  if (rule.srcMac) results.push(formatMac(data.subarray(6, 12)) === formatMac(rule.srcMac) ? 'yes' : 'no');
  if (rule.dstMac) results.push(formatMac(data.subarray(0, 6)) === formatMac(rule.dstMac) ? 'yes' : 'no');
  if (rule.ethertype !== undefined) results.push(p.ethertype === null ? 'unknown' : p.ethertype === rule.ethertype ? 'yes' : 'no');
  const ipCondition = (check: () => Tri): void => {
    if (p.family === 0) results.push('no');
    else if (p.family === null) results.push('unknown');
    else results.push(check());
  };
  for (const [prefix, address] of [[rule.srcIp, p.src], [rule.dstIp, p.dst]] as const) {
    if (!prefix) continue;
    ipCondition(() => {
      if (prefix.family !== p.family) return 'no';
      if (address === null) return 'unknown';
      const bits = BigInt(prefix.family === 4 ? 32 : 128);
      const shift = bits - BigInt(prefix.length);
      return address >> shift === prefix.address >> shift ? 'yes' : 'no';
    });
  }
  if (rule.protocol !== undefined) {
    const wanted = rule.protocol;
    ipCondition(() => {
      const number =
        typeof wanted === 'number' ? wanted : wanted === 'tcp' ? 6 : wanted === 'udp' ? 17 : wanted === 'icmpv6' ? (p.family === 6 ? 58 : -1) : p.family === 4 ? 1 : 58;
      if (number < 0) return 'no';
      return p.protocol === null ? 'unknown' : p.protocol === number ? 'yes' : 'no';
    });
  }
  for (const [range, port] of [[rule.srcPort, p.sport], [rule.dstPort, p.dport]] as const) {
    if (!range) continue;
    ipCondition(() => (port === 'none' ? 'no' : port === null ? 'unknown' : port >= range[0] && port <= range[1] ? 'yes' : 'no'));
  }
  if (results.includes('no')) return false;
  return rule.deny || !results.includes('unknown');
}

/** The name of the rule that decides (or 'default') and whether the frame passes. */
function refVerdict(rules: readonly RefRule[], defaultDeny: boolean, data: Uint8Array, sourcePort: number): { rule: string; pass: boolean } {
  if (rules.length === 0) return { rule: 'default', pass: !defaultDeny };
  const p = refRead(data);
  for (const rule of rules) if (refMatches(rule, data, sourcePort, p)) return { rule: rule.name, pass: !rule.deny };
  return { rule: 'default', pass: !defaultDeny };
}

function formatV6(address: bigint, rng: Rng): string {
  const groups: string[] = [];
  for (let g = 7; g >= 0; g--) groups.push(((address >> BigInt(16 * g)) & 0xffffn).toString(16));
  if (!rng.chance(0.5)) return groups.join(':');
  // Compress the longest run of zero groups, as people write them.
  let best = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; i++) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLength) [best, bestLength] = [i, j - i];
  }
  if (bestLength < 2) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLength).join(':')}`;
}

function randomRules(rng: Rng, macs: readonly Uint8Array[], portIds: readonly number[]): { ref: RefRule[]; rules: AclRule[] } {
  const ref: RefRule[] = [];
  const rules: AclRule[] = [];
  const count = rng.int(6);
  for (let k = 0; k < count; k++) {
    const r: RefRule = { name: `r${k}`, deny: rng.chance(0.6) };
    const rule: AclRule = { name: r.name, action: r.deny ? 'deny' : 'allow' };
    if (rng.chance(0.1) && portIds.length) rule.sourcePorts = r.sourcePorts = [rng.pick(portIds)];
    if (rng.chance(0.1) && macs.length) rule.srcMac = formatMac((r.srcMac = rng.pick(macs)));
    if (rng.chance(0.1) && macs.length) rule.dstMac = formatMac((r.dstMac = rng.pick(macs)));
    if (rng.chance(0.15)) rule.ethertype = r.ethertype = rng.pick([0x0800, 0x86dd, 0x0806, 0x88b5]);
    for (const field of ['srcIp', 'dstIp'] as const) {
      if (!rng.chance(0.2)) continue;
      if (rng.chance(0.5)) {
        const address = BigInt(rng.pick(V4_POOL));
        const length = rng.pick([0, 8, 16, 24, 31, 32]);
        r[field] = { family: 4, address, length };
        const n = Number(address);
        rule[field] = `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}/${length}`;
      } else {
        const address = rng.pick(V6_POOL);
        const length = rng.pick([0, 10, 32, 48, 64, 96, 104, 127, 128]);
        r[field] = { family: 6, address, length };
        rule[field] = rng.chance(0.2) && length === 128 ? formatV6(address, rng) : `${formatV6(address, rng)}/${length}`;
      }
    }
    if (rng.chance(0.4)) rule.protocol = r.protocol = rng.pick(['icmp', 'icmpv6', 'tcp', 'udp', 1, 6, 17, 58, 51] as const);
    for (const field of ['srcPort', 'dstPort'] as const) {
      if (!rng.chance(0.3)) continue;
      const a = rng.pick(PORT_POOL);
      const b = rng.pick(PORT_POOL);
      const range: [number, number] = [Math.min(a, b), Math.max(a, b)];
      r[field] = range;
      rule[field] = range[0] === range[1] && rng.chance(0.5) ? range[0] : range;
    }
    ref.push(r);
    rules.push(rule);
  }
  return { ref, rules };
}

/** One frame through the filter alone, with a batch view of one frame. */
function aclDecides(acl: AclFilter, frame: Frame, sourcePort: number): { rule: string; pass: boolean } {
  const hitsBefore = acl.counters().map((r) => r.hits);
  const defaultBefore = acl.defaultHits;
  let dropped = false;
  const batch = { count: 1, isDropped: () => false, frame: () => frame, sourcePortId: () => sourcePort, drop: () => (dropped = true) };
  acl.ingress(batch as unknown as IngressBatch);
  const hit = acl.counters().findIndex((r, k) => r.hits !== hitsBefore[k]);
  const rule = hit >= 0 ? acl.counters()[hit]!.name : acl.defaultHits !== defaultBefore ? 'default' : '(none)';
  return { rule, pass: !dropped };
}

// ---- the reference VLAN policy and tag rewriting ---------------------------------

type VlanModel = { mode: 'none' } | { mode: 'access'; vid: number } | { mode: 'trunk'; allowed: number[]; native: number | null };

const isTag = (data: Uint8Array, at: number) => data.length >= at + 2 && (word(data, at) === 0x8100 || word(data, at) === 0x88a8);

/** The VLAN a frame from a port with this model belongs to, or null when the port must drop it. */
function refClassify(model: VlanModel, data: Uint8Array): number | null {
  if (data.length < 14) return null;
  const tagged = word(data, 12) === 0x8100;
  if (tagged && (data.length < 18 || (word(data, 14) & 0xfff) === 0xfff)) return null;
  const vid = tagged ? word(data, 14) & 0xfff : 0;
  if (model.mode !== 'trunk') {
    if (!tagged) return word(data, 12) === 0x88a8 ? null : model.mode === 'access' ? model.vid : 0;
    if (vid !== 0 || isTag(data, 16)) return null;
    return model.mode === 'access' ? model.vid : 0;
  }
  if (vid === 0) return model.native;
  return model.allowed.includes(vid) || vid === model.native ? vid : null;
}

function refCarries(model: VlanModel, vlan: number): boolean {
  if (model.mode === 'trunk') return model.allowed.includes(vlan) || vlan === model.native;
  return vlan === (model.mode === 'access' ? model.vid : 0);
}

/** The bytes a port with this model must get for a frame of `vlan`. */
function refEgress(model: VlanModel, data: Uint8Array, vlan: number): Uint8Array {
  const hadTag = word(data, 12) === 0x8100;
  const body = hadTag ? Uint8Array.from([...data.subarray(0, 12), ...data.subarray(16)]) : data;
  if (model.mode !== 'trunk' || vlan === model.native) return body;
  // The priority and DEI bits of a tag the frame had stay.
  const flags = hadTag ? data[14]! & 0xf0 : 0;
  return Uint8Array.from([...body.subarray(0, 12), 0x81, 0x00, flags | (vlan >> 8), vlan & 0xff, ...body.subarray(12)]);
}

function wellFormed(data: Uint8Array): boolean {
  if (data.length < 14) return false;
  for (let at = 12; isTag(data, at); at += 4) {
    if (data.length < at + 6) return false;
    if (word(data, at) === 0x8100 && (word(data, at + 2) & 0xfff) === 0xfff) return false;
  }
  return true;
}

// ---- the walk ----------------------------------------------------------------------

interface PortModel {
  id: number;
  vlan: VlanModel;
  spoofing: boolean;
  /** The MAC the switch enforces (the host's setting, or the guest's while spoofing is allowed). */
  mac: Uint8Array;
  nic: 'created' | 'connected' | 'disconnected' | null;
  sink: RecordingSink | null;
  guest: { nic: ScriptedNic; attachment: SwitchPortAttachment } | null;
  sent: number;
  received: number;
}

const CATALOGUED: ReadonlySet<string> = new Set([...Object.values(SWITCH_DROP_REASONS), ...Object.values(EXTENSION_DROP_REASONS)]);
const ALL_GSO = { csum: true, gso: new Set<GsoType>(['tcp4', 'tcp6', 'udp4']), maxFrameSize: 1 << 20 };

function fail(step: string, message: string): never {
  throw new Error(`${step}: ${message}`);
}

/** Mostly VLANs that meet (10 on access ports and trunks), so that frames have somewhere to go. */
function randomVlan(rng: Rng): VlanModel {
  const r = rng.float();
  if (r < 0.35) return { mode: 'none' };
  if (r < 0.7) return { mode: 'access', vid: rng.chance(0.7) ? 10 : rng.pick([20, 30]) };
  const allowed = [10, 20, 30, 40].filter((vid) => rng.chance(vid === 10 ? 0.8 : 0.4));
  if (!allowed.length) allowed.push(20);
  return { mode: 'trunk', allowed, native: rng.chance(0.5) ? rng.pick([10, 30, 99]) : null };
}

function vlanProperty(model: VlanModel): VlanProperty | null {
  if (model.mode === 'none') return null;
  if (model.mode === 'access') return { type: 'vlan', mode: 'access', vlanId: model.vid };
  return { type: 'vlan', mode: 'trunk', allowed: model.allowed, ...(model.native !== null ? { nativeVlanId: model.native } : {}) };
}

const microtasks = () => new Promise<void>((resolve) => setImmediate(resolve));

async function walk(rng: Rng): Promise<void> {
  const clock = new VirtualClock();
  const acl = new AclFilter({ name: 'acl' });
  let refRules: RefRule[] = [];
  let defaultDeny = false;
  const extensions = rng.chance(0.8) ? [acl, new MacLearningForwarder({ maxEntries: rng.pick([4, 64]) })] : [acl];
  const sw = new Switch({ clock: clock.now, extensions });
  const oids = new OidLifecycleModel(sw);
  const ports = new Map<number, PortModel>();
  let delivered = 0;
  let sent = 0;
  let macSeq = 1;

  /** Copies delivered during the step, per port. */
  const pending: { port: PortModel; frame: Frame }[] = [];
  const sinkFor = (model: () => PortModel) => ({
    deliver(frames: readonly Frame[]) {
      for (const frame of frames) pending.push({ port: model(), frame });
    },
  });

  const check = (where: string) => {
    if (oids.violations.length) fail(where, oids.violations.join('; '));
    const c = sw.counters();
    if (c.ingressFrames !== c.droppedFrames + c.forwardedFrames + c.heldFrames) fail(where, `ingress ${c.ingressFrames} != dropped + forwarded + held`);
    if (c.ingressFrames !== sent) fail(where, `ingress ${c.ingressFrames}, sent ${sent}`);
    if (sumValues(c.drops) !== c.droppedFrames + c.excludedCopies) fail(where, `drops by reason ${sumValues(c.drops)} != dropped + excluded`);
    if (c.deliveredCopies !== delivered) fail(where, `delivered ${c.deliveredCopies}, sinks got ${delivered}`);
    if (Object.keys(c.extensionErrors).length) fail(where, `extension errors ${JSON.stringify(c.extensionErrors)}`);
    for (const reason of Object.keys(c.drops)) {
      if (!CATALOGUED.has(reason) && !(reason.startsWith('acl:') && /^acl:r\d$/.test(reason))) fail(where, `uncatalogued drop reason ${reason}`);
    }
    for (const snapshot of sw.ports()) {
      const model = ports.get(snapshot.id) ?? fail(where, `port ${snapshot.id} unknown`);
      if ((snapshot.nics[0]?.state ?? null) !== model.nic) fail(where, `port ${snapshot.id} NIC ${snapshot.nics[0]?.state} != model ${model.nic}`);
      if (snapshot.nics[0] && snapshot.nics[0].mac !== formatMac(model.mac)) fail(where, `port ${snapshot.id} MAC ${snapshot.nics[0].mac} != ${formatMac(model.mac)}`);
      if (snapshot.counters.rxPackets !== model.sent) fail(where, `port ${snapshot.id} rx ${snapshot.counters.rxPackets} != sent ${model.sent}`);
      if (snapshot.counters.txPackets !== model.received) fail(where, `port ${snapshot.id} tx ${snapshot.counters.txPackets} != received ${model.received}`);
    }
    if (sw.ports().length !== ports.size) fail(where, `${sw.ports().length} ports, model ${ports.size}`);
  };

  /** Every copy delivered in a traffic step comes from one of `frames`, stays in its VLAN, and was allowed. */
  const checkDeliveries = (where: string, source: PortModel, frames: readonly Frame[]) => {
    const candidates = frames.map((frame) => {
      const vlan = refClassify(source.vlan, frame.data);
      const spoofed = !source.spoofing && formatMac(frame.data.subarray(6, 12)) !== formatMac(source.mac);
      const verdict = refVerdict(refRules, defaultDeny, frame.data, source.id);
      return { frame, vlan, ok: vlan !== null && !spoofed && verdict.pass && source.nic === 'connected' };
    });
    for (const { port, frame } of pending) {
      delivered++;
      port.received++;
      if (port.nic !== 'connected') fail(where, `delivery to port ${port.id} whose NIC is ${port.nic}`);
      if (port === source) fail(where, `port ${port.id} got its own frame`);
      if (!wellFormed(frame.data)) fail(where, `a malformed ${frame.data.length}-byte copy to port ${port.id} (${JSON.stringify(port.vlan)}): ${hex(frame.data)}`);
      const from = candidates.find((c) => c.vlan !== null && refCarries(port.vlan, c.vlan) && sameBytes(refEgress(port.vlan, c.frame.data, c.vlan), frame.data));
      if (!from) fail(where, `port ${port.id} (${JSON.stringify(port.vlan)}) got a copy no frame from port ${source.id} (${JSON.stringify(source.vlan)}) may become: ${hex(frame.data)}`);
      if (!from.ok) fail(where, `port ${port.id} got a copy that is spoofed, ACL-denied or from a disconnected NIC: ${hex(from.frame.data)}`);
    }
    pending.length = 0;
  };

  const newPort = async () => {
    const vlan = randomVlan(rng);
    const spoofing = rng.chance(0.5);
    const property = vlanProperty(vlan);
    const properties = [...(property ? [property] : []), ...(spoofing && rng.chance(0.5) ? [] : [{ type: 'security' as const, allowMacSpoofing: spoofing }])];
    const address = mac(macSeq++);
    const model: PortModel = { id: 0, vlan, spoofing, mac: address, nic: null, sink: null, guest: null, sent: 0, received: 0 };
    if (rng.chance(0.3)) {
      const nic = new ScriptedNic(rng.chance(0.5) ? 'e1000' : 'virtio', address, true);
      nic.rxOffloads = ALL_GSO;
      const attachment = await SwitchPortAttachment.attach(sw, nic, { vmName: `vm${macSeq}`, index: 0 }, { properties });
      model.id = attachment.portId;
      ports.set(model.id, model);
      model.nic = 'created';
      await attachment.settled();
      model.nic = 'connected';
      model.guest = { nic, attachment };
      // Deliveries to the guest, as the sink sees them.
      const receive = nic.receive.bind(nic);
      nic.receive = (frames) => {
        for (const frame of frames) pending.push({ port: model, frame });
        receive(frames);
      };
    } else {
      const info = await sw.createPort({ type: 'synthetic', properties });
      model.id = info.id;
      ports.set(model.id, model);
      if (rng.chance(0.9)) {
        model.sink = new RecordingSink();
        await sw.createNic(model.id, { type: 'synthetic', mac: address, sink: sinkFor(() => model) });
        model.nic = 'created';
        if (rng.chance(0.9)) {
          await sw.connectNic(model.id, 0);
          model.nic = 'connected';
        }
      }
    }
  };

  const stop = async (model: PortModel, where: string) => {
    if (model.guest) await model.guest.attachment.detach();
    else await sw.stopPort(model.id);
    ports.delete(model.id);
    if (sw.port(model.id)) fail(where, `port ${model.id} left after stop`);
  };

  for (let k = rng.range(2, 4); k > 0; k--) await newPort();
  const steps = rng.range(10, 40);
  for (let step = 0; step < steps; step++) {
    clock.advance(rng.int(100));
    const list = [...ports.values()];
    const r = rng.float();
    let op = 'traffic';
    if (r < 0.12 && ports.size < 8) {
      op = 'new-port';
      await newPort();
    } else if (r < 0.17 && list.length) {
      op = 'stop-port';
      await stop(rng.pick(list), op);
    } else if (r < 0.22 && list.length) {
      op = 'nic-state';
      const model = rng.pick(list.filter((p) => !p.guest).concat(list.slice(0, 1)));
      if (!model.guest) {
        if (model.nic === 'connected') {
          await sw.disconnectNic(model.id, 0);
          model.nic = 'disconnected';
        } else if (model.nic === 'created' || model.nic === 'disconnected') {
          if (rng.chance(0.7)) {
            await sw.connectNic(model.id, 0);
            model.nic = 'connected';
          } else {
            await sw.deleteNic(model.id, 0);
            model.nic = null;
          }
        }
      }
    } else if (r < 0.28 && list.length) {
      op = 'vlan';
      const model = rng.pick(list);
      const next = randomVlan(rng);
      const had = vlanProperty(model.vlan);
      const property = vlanProperty(next);
      if (had && property) await sw.updatePortProperty(model.id, property);
      else if (property) await sw.addPortProperty(model.id, property);
      else if (had) await sw.deletePortProperty(model.id, had);
      model.vlan = next;
    } else if (r < 0.33 && list.length) {
      op = 'security';
      const model = rng.pick(list);
      const allow = rng.chance(0.5);
      const exists = sw.ports().find((p) => p.id === model.id)!.properties.some((p) => p.type === 'security');
      if (exists) await sw.updatePortProperty(model.id, { type: 'security', allowMacSpoofing: allow });
      else await sw.addPortProperty(model.id, { type: 'security', allowMacSpoofing: allow });
      model.spoofing = allow;
    } else if (r < 0.4 && list.some((p) => p.guest)) {
      op = 'guest-mac';
      const model = rng.pick(list.filter((p) => p.guest));
      const others = list.filter((p) => p !== model);
      const wanted = rng.chance(0.6) && others.length ? rng.pick(others).mac.slice() : mac(200 + rng.int(50));
      model.guest!.nic.driver({ type: 'mac', mac: wanted });
      await model.guest!.attachment.settled();
      if (model.spoofing) model.mac = wanted;
      model.guest!.nic.mac = wanted;
    } else if (r < 0.43 && list.some((p) => p.nic)) {
      op = 'host-mac';
      const model = rng.pick(list.filter((p) => p.nic));
      const wanted = mac(300 + rng.int(50));
      await sw.updateNic(model.id, 0, { mac: wanted });
      model.mac = wanted;
    } else if (r < 0.5) {
      op = 'acl';
      const generated = randomRules(rng, list.map((p) => p.mac), list.map((p) => p.id));
      defaultDeny = rng.chance(0.3);
      acl.setRules(generated.rules, defaultDeny ? 'deny' : 'allow');
      refRules = generated.ref;
    } else if (list.length) {
      op = 'traffic';
      const source = rng.pick(list);
      const macs = list.map((p) => p.mac);
      const vlans = [0, 10, 20, 30, 40, 99];
      const n = 1 + rng.int(rng.chance(0.8) ? 2 : 6);
      const frames: Frame[] = [];
      for (let k = 0; k < n; k++) {
        const src = rng.chance(0.85) ? (source.guest ? source.guest.nic.mac : source.mac) : rng.pick([...macs, mac(400 + rng.int(9))]);
        frames.push(randomFrame(rng, src, macs, vlans));
      }
      sent += n;
      // Frames for a port without a NIC are counted by the switch only (unknown-nic).
      if (source.nic !== null) source.sent += n;
      if (source.guest) {
        if (source.nic !== null) for (const frame of frames) source.guest.nic.send(frame);
        await microtasks();
      } else {
        sw.ingress(source.id, 0, frames);
      }
      checkDeliveries(`step ${step} (traffic from port ${source.id})`, source, frames);
    }
    if (pending.length) fail(`step ${step} (${op})`, `${pending.length} copies delivered outside traffic`);
    check(`step ${step} (${op})`);
  }
  for (const model of [...ports.values()]) await stop(model, 'final stop');
  check('after stopping every port');
  if (sw.ports().length !== 0 || oids.ports.size !== 0) fail('final', 'ports left after stop');
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function hex(data: Uint8Array): string {
  return Array.from(data.subarray(0, 64), (v) => v.toString(16).padStart(2, '0')).join('') + (data.length > 64 ? `... (${data.length} bytes)` : '');
}

export const targets: FuzzTarget[] = [
  {
    name: 'switch.acl',
    quick: 3000,
    run(rng) {
      const macs = [mac(1), mac(2), mac(3)];
      const { ref, rules } = randomRules(rng, macs, [1, 2, 3]);
      const defaultDeny = rng.chance(0.3);
      const acl = new AclFilter({ rules, defaultAction: defaultDeny ? 'deny' : 'allow' });
      for (let k = 0; k < 8; k++) {
        const sourcePort = rng.range(0, 3);
        const frame = randomFrame(rng, rng.pick(macs), macs, [0, 5, 10]);
        const want = refVerdict(ref, defaultDeny, frame.data, sourcePort);
        const got = aclDecides(acl, frame, sourcePort);
        if (got.rule !== want.rule || got.pass !== want.pass) {
          throw new Error(`ACL ${JSON.stringify(got)}, reference ${JSON.stringify(want)}; rules ${JSON.stringify(rules)}; frame ${hex(frame.data)}`);
        }
      }
    },
  },
  {
    name: 'switch.walk',
    quick: 300,
    run: walk,
  },
];
