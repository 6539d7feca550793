// One line per frame for the switch panel's "last frames" list: what a person
// scanning a capture wants (ARP who-has, ICMP echo seq, TCP flags), never a
// full dissector. Works on truncated or malformed frames (says so).
import { readU16BE as u16, readU32BE as u32 } from '../../emulator/net/checksum.ts';
import { formatMacAt } from '../../emulator/net/frame.ts';

export interface FrameSummary {
  src: string;
  dst: string;
  /** ARP, IPv4, IPv6, ICMP, ICMPv6, TCP, UDP, or the EtherType in hex. */
  type: string;
  summary: string;
  vlan?: number;
}

function ipv4(data: Uint8Array, at: number): string {
  return `${data[at]}.${data[at + 1]}.${data[at + 2]}.${data[at + 3]}`;
}

function ipv6(data: Uint8Array, at: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((data[at + i]! << 8) | data[at + i + 1]!).toString(16));
  // Collapse the longest run of zero groups, as people write them.
  const text = groups.join(':');
  const runs = text.match(/(^|:)0(:0)+(:|$)/g);
  if (!runs) return text;
  const longest = runs.reduce((a, b) => (b.length > a.length ? b : a));
  return text.replace(longest, '::');
}

const ICMP_TYPES: Record<number, string> = {
  0: 'echo reply',
  3: 'destination unreachable',
  5: 'redirect',
  8: 'echo request',
  11: 'time exceeded',
};

const ICMP6_TYPES: Record<number, string> = {
  1: 'destination unreachable',
  128: 'echo request',
  129: 'echo reply',
  133: 'router solicitation',
  134: 'router advertisement',
  135: 'neighbor solicitation',
  136: 'neighbor advertisement',
  143: 'MLDv2 report',
};

function tcpFlags(flags: number): string {
  const names: [number, string][] = [
    [0x02, 'SYN'],
    [0x10, 'ACK'],
    [0x01, 'FIN'],
    [0x04, 'RST'],
    [0x08, 'PSH'],
  ];
  return names.filter(([bit]) => flags & bit).map(([, name]) => name).join(',') || 'none';
}

function transport(proto: number, data: Uint8Array, at: number, src: string, dst: string, payloadLength: number): { type: string; summary: string } {
  const short = (need: number) => data.length < at + need;
  switch (proto) {
    case 1: {
      if (short(8)) return { type: 'ICMP', summary: `${src} → ${dst} ICMP (truncated)` };
      const type = data[at]!;
      const name = ICMP_TYPES[type] ?? `type ${type}`;
      const echo = type === 0 || type === 8 ? ` id=${u16(data, at + 4)} seq=${u16(data, at + 6)}` : '';
      return { type: 'ICMP', summary: `${src} → ${dst} ${name}${echo}` };
    }
    case 58: {
      if (short(4)) return { type: 'ICMPv6', summary: `${src} → ${dst} ICMPv6 (truncated)` };
      const type = data[at]!;
      const name = ICMP6_TYPES[type] ?? `type ${type}`;
      const target = (type === 135 || type === 136) && !short(24) ? ` ${ipv6(data, at + 8)}` : '';
      return { type: 'ICMPv6', summary: `${src} → ${dst} ${name}${target}` };
    }
    case 6: {
      if (short(20)) return { type: 'TCP', summary: `${src} → ${dst} TCP (truncated)` };
      const headerLength = (data[at + 12]! >> 4) * 4;
      const length = Math.max(0, payloadLength - headerLength);
      return {
        type: 'TCP',
        summary: `${src}:${u16(data, at)} → ${dst}:${u16(data, at + 2)} [${tcpFlags(data[at + 13]!)}] seq=${u32(data, at + 4)} len=${length}`,
      };
    }
    case 17: {
      if (short(8)) return { type: 'UDP', summary: `${src} → ${dst} UDP (truncated)` };
      return { type: 'UDP', summary: `${src}:${u16(data, at)} → ${dst}:${u16(data, at + 2)} len=${Math.max(0, u16(data, at + 4) - 8)}` };
    }
    default:
      return { type: `IP/${proto}`, summary: `${src} → ${dst} protocol ${proto}` };
  }
}

export function summarizeFrame(data: Uint8Array): FrameSummary {
  if (data.length < 14) return { src: '?', dst: '?', type: 'runt', summary: `${data.length}-byte runt frame` };
  const result: FrameSummary = { src: formatMacAt(data, 6), dst: formatMacAt(data, 0), type: '', summary: '' };
  let etherType = u16(data, 12);
  let at = 14;
  if (etherType === 0x8100 && data.length >= 18) {
    result.vlan = u16(data, 14) & 0x0fff;
    etherType = u16(data, 16);
    at = 18;
  }
  const vlan = result.vlan !== undefined ? `[vlan ${result.vlan}] ` : '';
  if (etherType === 0x0806) {
    result.type = 'ARP';
    if (data.length < at + 28) result.summary = 'ARP (truncated)';
    else {
      const op = u16(data, at + 6);
      const sender = ipv4(data, at + 14);
      const target = ipv4(data, at + 24);
      result.summary =
        op === 1 ? `who has ${target}? tell ${sender}` : op === 2 ? `${sender} is at ${formatMacAt(data, at + 8)}` : `ARP op ${op} ${sender} → ${target}`;
    }
  } else if (etherType === 0x0800) {
    if (data.length < at + 20 || data[at]! >> 4 !== 4) {
      result.type = 'IPv4';
      result.summary = 'IPv4 (truncated or malformed)';
    } else {
      const headerLength = (data[at]! & 0x0f) * 4;
      const total = u16(data, at + 2);
      const fragment = u16(data, at + 6) & 0x1fff;
      const src = ipv4(data, at + 12);
      const dst = ipv4(data, at + 16);
      if (fragment !== 0) {
        result.type = 'IPv4';
        result.summary = `${src} → ${dst} fragment offset ${fragment * 8}`;
      } else Object.assign(result, transport(data[at + 9]!, data, at + headerLength, src, dst, total - headerLength));
    }
  } else if (etherType === 0x86dd) {
    if (data.length < at + 40) {
      result.type = 'IPv6';
      result.summary = 'IPv6 (truncated)';
    } else {
      // Skip hop-by-hop, routing and destination options headers (MLD reports carry hop-by-hop).
      let next = data[at + 6]!;
      let l4 = at + 40;
      let remaining = u16(data, at + 4);
      while ((next === 0 || next === 43 || next === 60) && data.length >= l4 + 8) {
        const length = (data[l4 + 1]! + 1) * 8;
        next = data[l4]!;
        l4 += length;
        remaining -= length;
      }
      Object.assign(result, transport(next, data, l4, ipv6(data, at + 8), ipv6(data, at + 24), remaining));
    }
  } else {
    result.type = `0x${etherType.toString(16).padStart(4, '0')}`;
    result.summary = `EtherType 0x${etherType.toString(16).padStart(4, '0')}, ${data.length} bytes`;
  }
  result.summary = vlan + result.summary;
  return result;
}
