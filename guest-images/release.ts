// Debian archive metadata fetched without apt: InRelease checked with OpenPGP
// against the archive keys kept in keys/, the Release fields that decide
// whether it may be used (suite, Valid-Until, SHA256 of each index), and the
// Packages index. Everything here parses hostile mirror input.
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as openpgp from 'openpgp';
import { dependencyNames, type PackageInfo } from './apt.ts';
import { parseVersion } from './debversion.ts';
import { SOURCE_DIR } from './paths.ts';

/** Public keys from Debian's debian-archive-keyring package (see keys/README.md). */
export const KEYS_DIR = join(SOURCE_DIR, 'keys');

export class MirrorError extends Error {
  override name = 'MirrorError';
}
/** InRelease carries no valid signature by a Debian archive key. */
export class SignatureError extends MirrorError {
  override name = 'SignatureError';
}
/** A file's SHA256 or size differs from what the signed index says. */
export class HashMismatchError extends MirrorError {
  override name = 'HashMismatchError';
}
/** Valid-Until has passed (a replayed, frozen or stale mirror). */
export class ExpiredReleaseError extends MirrorError {
  override name = 'ExpiredReleaseError';
}
/** A Release or Packages file that cannot be parsed or names the wrong suite. */
export class IndexFormatError extends MirrorError {
  override name = 'IndexFormatError';
}

export interface IndexEntry {
  sha256: string;
  size: number;
}

export interface Release {
  suite?: string;
  codename?: string;
  date?: Date;
  validUntil?: Date;
  /** Indexes can be fetched by their hash (by-hash/SHA256/<hash>), which a mirror mid-sync still serves consistently. */
  acquireByHash: boolean;
  /** Path relative to dists/<suite>/ -> its hash and size. */
  sha256: Map<string, IndexEntry>;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;
/** Bookworm's InRelease is ~150 kB; anything near this is not one. */
export const MAX_INRELEASE_BYTES = 8 << 20;

export async function loadArchiveKeys(dir = KEYS_DIR): Promise<openpgp.Key[]> {
  const keys: openpgp.Key[] = [];
  for (const name of (await readdir(dir)).filter((n) => n.endsWith('.asc')).sort()) {
    keys.push(...(await openpgp.readKeys({ armoredKeys: await readFile(join(dir, name), 'utf8') })));
  }
  if (!keys.length) throw new MirrorError(`no Debian archive keys in ${dir}`);
  return keys;
}

/**
 * The signed text of an InRelease file. At least one signature must be good
 * and made by one of `keys`; a bad signature by one of them refuses the file
 * outright (as gpgv does). Signatures by other keys are ignored, as apt does.
 */
export async function verifyInRelease(armored: string, keys: openpgp.Key[], what: string): Promise<string> {
  if (armored.length > MAX_INRELEASE_BYTES) throw new SignatureError(`${what}: ${armored.length} bytes, not an InRelease file`);
  let message: openpgp.CleartextMessage;
  try {
    message = await openpgp.readCleartextMessage({ cleartextMessage: armored });
  } catch (error) {
    throw new SignatureError(`${what} is not an OpenPGP-signed InRelease file (${(error as Error).message})`);
  }
  const known = new Set(keys.flatMap((k) => [k.getKeyID(), ...k.getSubkeys().map((s) => s.getKeyID())].map((id) => id.toHex())));
  const result = await openpgp.verify({ message, verificationKeys: keys, expectSigned: false });
  let good = 0;
  for (const signature of result.signatures) {
    if (!known.has(signature.keyID.toHex())) continue;
    try {
      await signature.verified;
      good++;
    } catch (error) {
      throw new SignatureError(`${what}: bad signature by Debian archive key ${signature.keyID.toHex()} (${(error as Error).message}): the file was altered or the mirror is broken`);
    }
  }
  if (!good) throw new SignatureError(`${what} is signed by none of the Debian archive keys in ${KEYS_DIR}`);
  return message.getText();
}

const RFC2822 = /^(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?\d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} (?:UTC|GMT|[+-]\d{4})$/;

function parseDate(value: string | undefined, field: string, what: string): Date | undefined {
  if (value === undefined) return undefined;
  // RFC 2822 as Debian writes it; Date's own parser would accept almost anything.
  const date = RFC2822.test(value) ? new Date(value) : new Date(NaN);
  if (Number.isNaN(date.getTime())) throw new IndexFormatError(`${what}: bad ${field} '${value.slice(0, 60)}'`);
  return date;
}

/** Fields of a (signed) Release text; unknown fields are ignored. */
export function parseRelease(text: string, what: string): Release {
  const fields = new Map<string, string>();
  let current = '';
  for (const line of text.split('\n')) {
    if (/^\s/.test(line)) {
      if (current) fields.set(current, `${fields.get(current)}\n${line.trim()}`);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) {
      current = '';
      continue;
    }
    current = line.slice(0, colon);
    fields.set(current, line.slice(colon + 1).trim());
  }
  const sha256 = new Map<string, IndexEntry>();
  for (const line of (fields.get('SHA256') ?? '').split('\n')) {
    if (!line.trim()) continue;
    const [hash, size, path, ...rest] = line.trim().split(/\s+/);
    if (!hash || !SHA256_HEX.test(hash) || !size || !/^\d{1,15}$/.test(size) || !path || rest.length) throw new IndexFormatError(`${what}: bad SHA256 line '${line.slice(0, 120)}'`);
    sha256.set(path, { sha256: hash, size: Number(size) });
  }
  if (!sha256.size) throw new IndexFormatError(`${what} lists no SHA256 hashes`);
  return {
    suite: fields.get('Suite'),
    codename: fields.get('Codename'),
    date: parseDate(fields.get('Date'), 'Date', what),
    validUntil: parseDate(fields.get('Valid-Until'), 'Valid-Until', what),
    acquireByHash: fields.get('Acquire-By-Hash') === 'yes',
    sha256,
  };
}

/** Refuses a Release for another suite (a mirror answering with the wrong one) or past its Valid-Until. */
export function checkRelease(release: Release, suite: string, what: string, opts: { now?: Date; allowExpired?: boolean } = {}): void {
  if (release.codename !== suite && release.suite !== suite) {
    throw new IndexFormatError(`${what} is for suite ${release.codename ?? release.suite ?? '(none)'}, not ${suite}`);
  }
  const now = opts.now ?? new Date();
  if (release.validUntil && release.validUntil.getTime() < now.getTime() && !opts.allowExpired) {
    throw new ExpiredReleaseError(`${what} expired on ${release.validUntil.toISOString()} (Valid-Until): the mirror is stale or replaying old metadata; pass --allow-expired to use it anyway`);
  }
}

const PACKAGE_NAME = /^[a-z0-9][a-z0-9+.-]{0,127}$/;
const FIELDS = new Set(['Package', 'Version', 'Architecture', 'Filename', 'SHA256', 'Size', 'Depends', 'Pre-Depends']);

/** A pool path safe to append to the mirror URL: relative, no `..`, no URL syntax. */
export function safePoolPath(path: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9+.~_/-]*$/.test(path) && !path.split('/').some((p) => p === '' || p === '.' || p === '..');
}

/** The entries of a Packages index, each field checked; a bad stanza refuses the whole index. */
export function parsePackages(text: string, what: string): PackageInfo[] {
  const out: PackageInfo[] = [];
  let fields = new Map<string, string>();
  let current = '';
  let line = 0;
  const finish = () => {
    if (!fields.size) return;
    const bad = (why: string) => new IndexFormatError(`${what}: stanza ending at line ${line}: ${why}`);
    const name = fields.get('Package') ?? '';
    const version = fields.get('Version') ?? '';
    const filename = fields.get('Filename') ?? '';
    const sha256 = fields.get('SHA256') ?? '';
    const size = fields.get('Size') ?? '';
    if (!PACKAGE_NAME.test(name)) throw bad(`bad package name '${name.slice(0, 60)}'`);
    try {
      parseVersion(version);
    } catch {
      throw bad(`bad version '${version.slice(0, 60)}' of ${name}`);
    }
    if (!safePoolPath(filename)) throw bad(`unsafe Filename '${filename.slice(0, 120)}' of ${name}`);
    if (!SHA256_HEX.test(sha256)) throw bad(`no SHA256 for ${name}`);
    if (!/^\d{1,12}$/.test(size)) throw bad(`bad Size '${size.slice(0, 20)}' of ${name}`);
    out.push({ name, version, filename, sha256, size: Number(size), depends: [...dependencyNames(fields.get('Pre-Depends')), ...dependencyNames(fields.get('Depends'))] });
    fields = new Map();
  };
  for (const raw of text.split('\n')) {
    line++;
    if (raw.trim() === '') {
      finish();
      current = '';
      continue;
    }
    if (raw[0] === ' ' || raw[0] === '\t') {
      if (current) fields.set(current, `${fields.get(current)} ${raw.trim()}`);
      continue;
    }
    const colon = raw.indexOf(':');
    const key = colon > 0 ? raw.slice(0, colon) : '';
    current = FIELDS.has(key) ? key : '';
    if (current) fields.set(current, raw.slice(colon + 1).trim());
  }
  finish();
  return out;
}
