// IPv4/IPv6 addresses and prefixes as the lab file writes them: parsing (the
// ACL's parsers), RFC 5952 text, subnet arithmetic, and MAC addresses.
import { parseIpv4Address, parseIpv6Address } from '../../extensions/acl.ts';

/** An address with its prefix length; IPv4 lives in words[0]. */
export interface Cidr {
  family: 4 | 6;
  words: Uint32Array;
  prefix: number;
}

/** A CIDR (`10.0.1.5/24`; a bare address is a host prefix), or why not. */
export function parseCidr(text: string): Cidr | string {
  const slash = text.indexOf('/');
  const addressText = slash < 0 ? text : text.slice(0, slash);
  const family = addressText.includes(':') ? 6 : 4;
  const bits = family === 6 ? 128 : 32;
  let prefix = bits;
  if (slash >= 0) {
    const prefixText = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > bits) return `'${text}' has a bad prefix length (0..${bits} for IPv${family})`;
    prefix = Number(prefixText);
  }
  let words: Uint32Array | null;
  if (family === 6) words = parseIpv6Address(addressText);
  else {
    const v4 = parseIpv4Address(addressText);
    words = v4 === null ? null : Uint32Array.of(v4, 0, 0, 0);
  }
  if (words === null) return `'${text}' is not an IPv${family} address`;
  return { family, words, prefix };
}

function mask(prefix: number, word: number): number {
  const inWord = Math.max(0, Math.min(32, prefix - 32 * word));
  return inWord === 0 ? 0 : (0xffffffff << (32 - inWord)) >>> 0;
}

/** The network of a CIDR (host bits cleared). */
export function networkOf(cidr: Cidr): Cidr {
  const words = cidr.words.map((w, i) => (w & mask(cidr.prefix, i)) >>> 0);
  return { family: cidr.family, words, prefix: cidr.prefix };
}

export function sameAddress(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && a.words.every((w, i) => w === b.words[i]);
}

export function hasHostBits(cidr: Cidr): boolean {
  return !sameAddress(cidr, networkOf(cidr));
}

/** Whether `address` lies in the subnet of `net`. */
export function inSubnet(address: Cidr, net: Cidr): boolean {
  return address.family === net.family && address.words.every((w, i) => ((w ^ net.words[i]!) & mask(net.prefix, i)) === 0);
}

export function formatAddress(cidr: Cidr): string {
  if (cidr.family === 4) {
    const v = cidr.words[0]!;
    return `${v >>> 24}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
  }
  const groups: number[] = [];
  for (const w of cidr.words) groups.push(w >>> 16, w & 0xffff);
  // RFC 5952: the longest run of two or more zero groups (the first on a tie) becomes '::'.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const hex = (list: number[]) => list.map((g) => g.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}

export function formatCidr(cidr: Cidr): string {
  return `${formatAddress(cidr)}/${cidr.prefix}`;
}

/** Why an address cannot be a NIC's or a gateway's (unspecified, loopback, multicast, broadcast), or null. */
export function unicastProblem(cidr: Cidr): string | null {
  const [w0, w1, w2, w3] = cidr.words as unknown as [number, number, number, number];
  if (cidr.family === 4) {
    if (w0 === 0) return 'is the unspecified address';
    if (w0 >>> 24 === 127) return 'is a loopback address';
    if (w0 >>> 28 === 0xe) return 'is a multicast address';
    if (w0 === 0xffffffff) return 'is the broadcast address';
    if (cidr.prefix <= 30) {
      const net = networkOf(cidr).words[0]!;
      if (w0 === net) return `is the network address of ${formatCidr(networkOf(cidr))}`;
      if (w0 === (net | ~mask(cidr.prefix, 0)) >>> 0) return `is the broadcast address of ${formatCidr(networkOf(cidr))}`;
    }
    return null;
  }
  if ((w0 | w1 | w2) === 0 && (w3 === 0 || w3 === 1)) return w3 === 0 ? 'is the unspecified address' : 'is the loopback address';
  if (w0 >>> 24 === 0xff) return 'is a multicast address';
  return null;
}

/** A MAC in lower-case colon form (a NIC's must be unicast and not zero), or why not. */
export function normaliseMac(text: string, forNic = true): string | { problem: string } {
  const parts = text.split(/[:-]/);
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) return { problem: `'${text}' is not a MAC address (six hex pairs, e.g. 52:54:00:12:34:56)` };
  const bytes = parts.map((p) => parseInt(p, 16));
  if (!forNic) return parts.map((p) => p.toLowerCase()).join(':');
  if (bytes[0]! & 1) return { problem: `'${text}' is a multicast MAC (the first octet's low bit is set)` };
  if (bytes.every((b) => b === 0)) return { problem: `'${text}' is the all-zero MAC` };
  return parts.map((p) => p.toLowerCase()).join(':');
}
