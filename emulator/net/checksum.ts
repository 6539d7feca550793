// Internet checksum (RFC 1071) helpers over byte ranges, shared by the NIC
// models and the software offload path. Sums are kept unfolded (plain JS
// numbers hold far more than 2^32 16-bit words without overflow) and folded
// only at the end.

/**
 * Ones'-complement partial sum of data[start..end) as big-endian 16-bit words,
 * added to `initial`. An odd trailing byte counts as the high byte of a word.
 * `start` must be even relative to the checksummed region for the result to be
 * combinable with other partial sums (callers sum whole regions).
 */
export function sumBytes(data: Uint8Array, start = 0, end = data.length, initial = 0): number {
  let sum = initial;
  let i = start;
  const last = end - 1;
  for (; i < last; i += 2) sum += (data[i]! << 8) | data[i + 1]!;
  if (i === last) sum += data[i]! << 8;
  return sum;
}

/** Folds a partial sum into 16 bits (end-around carry). */
export function fold(sum: number): number {
  // Reduce huge sums without 32-bit truncation first (JS bit ops are 32-bit).
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

/** The checksum field value for a partial sum: the complement of its fold. */
export function finish(sum: number): number {
  return ~fold(sum) & 0xffff;
}

/** The checksum of data[start..end) with no seed. */
export function checksum(data: Uint8Array, start = 0, end = data.length, initial = 0): number {
  return finish(sumBytes(data, start, end, initial));
}

export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;

/** Header checksum of the IPv4 header at `ipStart` (IHL taken from the header; the checksum field is treated as 0). */
export function ipv4HeaderChecksum(data: Uint8Array, ipStart: number): number {
  const headerLength = (data[ipStart]! & 0x0f) * 4;
  const sum = sumBytes(data, ipStart, ipStart + headerLength) - ((data[ipStart + 10]! << 8) | data[ipStart + 11]!);
  return finish(sum);
}

/** Stores the correct IPv4 header checksum in place. */
export function setIpv4HeaderChecksum(data: Uint8Array, ipStart: number): void {
  data[ipStart + 10] = 0;
  data[ipStart + 11] = 0;
  const value = ipv4HeaderChecksum(data, ipStart);
  data[ipStart + 10] = value >> 8;
  data[ipStart + 11] = value & 0xff;
}

/** Unfolded pseudo-header sum for TCP/UDP over the IPv4 header at `ipStart`. */
export function pseudoHeaderSumV4(data: Uint8Array, ipStart: number, protocol: number, l4Length: number): number {
  return sumBytes(data, ipStart + 12, ipStart + 20) + protocol + (l4Length >>> 16) + (l4Length & 0xffff);
}

/** Unfolded pseudo-header sum for TCP/UDP over the IPv6 header at `ipStart`. */
export function pseudoHeaderSumV6(data: Uint8Array, ipStart: number, protocol: number, l4Length: number): number {
  return sumBytes(data, ipStart + 8, ipStart + 40) + protocol + (l4Length >>> 16) + (l4Length & 0xffff);
}

export function readU16BE(data: Uint8Array, at: number): number {
  return (data[at]! << 8) | data[at + 1]!;
}

export function writeU16BE(data: Uint8Array, at: number, value: number): void {
  data[at] = (value >> 8) & 0xff;
  data[at + 1] = value & 0xff;
}

export function readU32BE(data: Uint8Array, at: number): number {
  return ((data[at]! << 24) | (data[at + 1]! << 16) | (data[at + 2]! << 8) | data[at + 3]!) >>> 0;
}

export function writeU32BE(data: Uint8Array, at: number, value: number): void {
  data[at] = (value >>> 24) & 0xff;
  data[at + 1] = (value >>> 16) & 0xff;
  data[at + 2] = (value >>> 8) & 0xff;
  data[at + 3] = value & 0xff;
}
