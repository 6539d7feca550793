// ACL filter extension: first matching rule wins, allow or deny, on ingress.
// Matches source/destination MAC, ethertype (under one VLAN tag), IPv4 source
// and destination prefix, IP protocol and TCP/UDP ports; counts hits per rule.
import type { Extension, IngressBatch } from '../extension.ts';
import { readU32BE } from '../../emulator/net/checksum.ts';
import { ETH_TYPE_IPV4, ETH_TYPE_VLAN, parseMac } from '../../emulator/net/frame.ts';
import { macKey } from './mac-learning.ts';
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
  ethertype?: number;
  /** "10.0.0.0/8" or "10.1.2.3" (/32). */
  srcIp?: string;
  dstIp?: string;
  /** IP protocol number or name. */
  protocol?: number | 'icmp' | 'tcp' | 'udp';
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

const PROTOCOLS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17 };

interface CompiledRule {
  name: string;
  deny: boolean;
  reason: AclRuleDropReason;
  sourcePorts: Set<number> | null;
  srcMac: number;
  dstMac: number;
  ethertype: number;
  srcNet: number;
  srcMask: number;
  dstNet: number;
  dstMask: number;
  needsIp: boolean;
  protocol: number;
  srcPort: [number, number] | null;
  dstPort: [number, number] | null;
  hits: number;
}

export class AclFilter implements Extension {
  readonly name: string;
  readonly kind = 'filter' as const;
  private rules: CompiledRule[] = [];
  private defaultDeny = false;
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
    let l3 = 14;
    let ethertype = (data[12]! << 8) | data[13]!;
    if (ethertype === ETH_TYPE_VLAN && data.length >= 18) {
      ethertype = (data[16]! << 8) | data[17]!;
      l3 = 18;
    }
    // IPv4 fields, parsed once, only if a rule needs them; -1 when absent.
    let parsed = false;
    let src = -1;
    let dst = -1;
    let protocol = -1;
    let sport = -1;
    let dport = -1;
    for (let r = 0; r < rules.length; r++) {
      const rule = rules[r]!;
      if (rule.sourcePorts !== null && !rule.sourcePorts.has(sourcePort)) continue;
      if (rule.srcMac >= 0 && macKey(data, 6) !== rule.srcMac) continue;
      if (rule.dstMac >= 0 && macKey(data, 0) !== rule.dstMac) continue;
      if (rule.ethertype >= 0 && ethertype !== rule.ethertype) continue;
      if (rule.needsIp) {
        if (!parsed) {
          parsed = true;
          if (ethertype === ETH_TYPE_IPV4 && data.length >= l3 + 20 && data[l3]! >> 4 === 4) {
            const ihl = (data[l3]! & 0x0f) * 4;
            src = readU32BE(data, l3 + 12);
            dst = readU32BE(data, l3 + 16);
            protocol = data[l3 + 9]!;
            const fragmentOffset = ((data[l3 + 6]! & 0x1f) << 8) | data[l3 + 7]!;
            const l4 = l3 + ihl;
            if ((protocol === 6 || protocol === 17) && fragmentOffset === 0 && ihl >= 20 && data.length >= l4 + 4) {
              sport = (data[l4]! << 8) | data[l4 + 1]!;
              dport = (data[l4 + 2]! << 8) | data[l4 + 3]!;
            }
          }
        }
        if (src < 0) continue;
        if (rule.srcMask !== 0 && ((src & rule.srcMask) >>> 0) !== rule.srcNet) continue;
        if (rule.dstMask !== 0 && ((dst & rule.dstMask) >>> 0) !== rule.dstNet) continue;
        if (rule.protocol >= 0 && protocol !== rule.protocol) continue;
        if (rule.srcPort !== null && !(sport >= rule.srcPort[0] && sport <= rule.srcPort[1])) continue;
        if (rule.dstPort !== null && !(dport >= rule.dstPort[0] && dport <= rule.dstPort[1])) continue;
      }
      return rule;
    }
    return null;
  }
}

function compileRule(rule: AclRule, index: number): CompiledRule {
  const name = rule.name ?? `rule ${index + 1}`;
  const where = `ACL rule ${JSON.stringify(name)}`;
  if (rule.action !== 'allow' && rule.action !== 'deny') throw new Error(`${where}: action must be allow or deny`);
  const prefix = (text: string | undefined): [number, number] => {
    if (text === undefined) return [0, 0];
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/.exec(text);
    const octets = m ? m.slice(1, 5).map(Number) : [];
    const length = m && m[5] !== undefined ? Number(m[5]) : 32;
    if (!m || octets.some((o) => o > 255) || length > 32) throw new Error(`${where}: not an IPv4 prefix: ${JSON.stringify(text)}`);
    // Mask 0 (a /0 prefix) only requires an IPv4 packet: needsIp checks that.
    const mask = length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
    const net = ((((octets[0]! << 24) | (octets[1]! << 16) | (octets[2]! << 8) | octets[3]!) >>> 0) & mask) >>> 0;
    return [net, mask];
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
  let protocol = -1;
  if (rule.protocol !== undefined) {
    protocol = typeof rule.protocol === 'number' ? rule.protocol : (PROTOCOLS[rule.protocol] ?? -2);
    if (!Number.isInteger(protocol) || protocol < 0 || protocol > 255) throw new Error(`${where}: bad protocol ${String(rule.protocol)}`);
  }
  if (rule.ethertype !== undefined && !(Number.isInteger(rule.ethertype) && rule.ethertype >= 0 && rule.ethertype <= 0xffff)) {
    throw new Error(`${where}: bad ethertype`);
  }
  const [srcNet, srcMask] = prefix(rule.srcIp);
  const [dstNet, dstMask] = prefix(rule.dstIp);
  const srcPort = range(rule.srcPort, 'srcPort');
  const dstPort = range(rule.dstPort, 'dstPort');
  const needsIp = rule.srcIp !== undefined || rule.dstIp !== undefined || protocol >= 0 || srcPort !== null || dstPort !== null;
  return {
    name,
    deny: rule.action === 'deny',
    reason: aclRuleReason(name),
    sourcePorts: rule.sourcePorts ? new Set(rule.sourcePorts) : null,
    srcMac: mac(rule.srcMac),
    dstMac: mac(rule.dstMac),
    ethertype: rule.ethertype ?? -1,
    srcNet,
    srcMask,
    dstNet,
    dstMask,
    needsIp,
    protocol,
    srcPort,
    dstPort,
    hits: 0,
  };
}
