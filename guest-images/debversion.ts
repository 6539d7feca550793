// Debian version comparison (Debian Policy 5.6.12, as dpkg does it), used to
// pick each package's candidate the way apt does: the highest version in any
// of the suites.

export interface DebianVersion {
  epoch: number;
  upstream: string;
  revision: string;
}

export class VersionFormatError extends Error {
  override name = 'VersionFormatError';
}

/** Splits `[epoch:]upstream[-revision]`: the revision is after the last hyphen. */
export function parseVersion(text: string): DebianVersion {
  const version = text.trim();
  const colon = version.indexOf(':');
  let epoch = 0;
  if (colon >= 0) {
    const digits = version.slice(0, colon);
    if (!/^\d{1,9}$/.test(digits)) throw new VersionFormatError(`version '${text.slice(0, 80)}' has a bad epoch`);
    epoch = Number(digits);
  }
  const rest = version.slice(colon + 1);
  const hyphen = rest.lastIndexOf('-');
  const upstream = hyphen >= 0 ? rest.slice(0, hyphen) : rest;
  const revision = hyphen >= 0 ? rest.slice(hyphen + 1) : '';
  if (!upstream) throw new VersionFormatError(`version '${text.slice(0, 80)}' has an empty upstream part`);
  return { epoch, upstream, revision };
}

const isDigit = (code: number) => code >= 0x30 && code <= 0x39;
const isLetter = (code: number) => (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a);

/** Sort weight of one character in a non-digit run: `~` before the end, the end before letters, letters before the rest. */
function weight(code: number | undefined): number {
  if (code === undefined || isDigit(code)) return 0;
  if (isLetter(code)) return code;
  if (code === 0x7e) return -1;
  return code + 256;
}

/** dpkg's verrevcmp: alternating non-digit runs (compared by weight) and digit runs (compared as numbers). */
function compareParts(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    while ((i < a.length && !isDigit(a.charCodeAt(i))) || (j < b.length && !isDigit(b.charCodeAt(j)))) {
      const wa = weight(i < a.length ? a.charCodeAt(i) : undefined);
      const wb = weight(j < b.length ? b.charCodeAt(j) : undefined);
      if (wa !== wb) return wa - wb;
      i++;
      j++;
    }
    while (a.charCodeAt(i) === 0x30) i++;
    while (b.charCodeAt(j) === 0x30) j++;
    let firstDifference = 0;
    while (i < a.length && j < b.length && isDigit(a.charCodeAt(i)) && isDigit(b.charCodeAt(j))) {
      if (!firstDifference) firstDifference = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (i < a.length && isDigit(a.charCodeAt(i))) return 1;
    if (j < b.length && isDigit(b.charCodeAt(j))) return -1;
    if (firstDifference) return firstDifference;
  }
  return 0;
}

/** Negative, zero or positive as version a sorts before, equal to or after b. */
export function compareVersions(a: string, b: string): number {
  const va = parseVersion(a);
  const vb = parseVersion(b);
  if (va.epoch !== vb.epoch) return va.epoch - vb.epoch;
  return compareParts(va.upstream, vb.upstream) || compareParts(va.revision, vb.revision);
}
