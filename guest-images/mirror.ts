// The package source for machines without apt (macOS, Windows, other Linux):
// reads a Debian mirror directly, as debootstrap does. InRelease is checked
// against Debian's archive keys, each Packages index against the signed
// Release hashes, each .deb against its Packages SHA256, and the .deb is
// unpacked in memory. Candidates and dependency names follow apt's rules, so
// the image is the one the apt path builds from the same package versions.
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Key } from 'openpgp';
import { debFileName, sha256File, type Log, type PackageInfo } from './apt.ts';
import { compareVersions } from './debversion.ts';
import { unpackDeb } from './debfile.ts';
import {
  HashMismatchError, KEYS_DIR, MAX_INRELEASE_BYTES, MirrorError, checkRelease, loadArchiveKeys, parsePackages, parseRelease, verifyInRelease, type IndexEntry,
} from './release.ts';
import { MissingPackageError, type FetchedPackage, type PackageSource } from './source.ts';
import { readBounded } from './streams.ts';
import { decompressMember } from './xz.ts';

/** The Debian release the recipe's packages come from; its suites are the ones the apt path's sources list names. */
export const DEBIAN_RELEASE = 'bookworm';
const COMPONENT = 'main';
const ARCH = 'i386';

export interface Suite {
  /** Mirror base URL, the folder holding dists/ and pool/ (no trailing slash). */
  base: string;
  suite: string;
}

export function checkMirrorUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new MirrorError(`mirror URL '${url}' is not a URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new MirrorError(`mirror URL '${url}' is not http or https`);
  return url.replace(/\/+$/, '');
}

/** bookworm and bookworm-updates from `mirror`, bookworm-security from `securityMirror` (left out without one). */
export function debianSuites(mirror: string, securityMirror?: string): Suite[] {
  const base = checkMirrorUrl(mirror);
  return [
    { base, suite: DEBIAN_RELEASE },
    { base, suite: `${DEBIAN_RELEASE}-updates` },
    ...(securityMirror ? [{ base: checkMirrorUrl(securityMirror), suite: `${DEBIAN_RELEASE}-security` }] : []),
  ];
}

export interface MirrorChoice {
  mirror?: string;
  securityMirror?: string;
}

/**
 * The mirrors an apt sources text names for bookworm and bookworm-security,
 * one-line (`deb [opts] URI SUITE COMPONENTS`) or deb822 (`Types:`/`URIs:`/`Suites:`).
 */
export function mirrorsInAptSources(texts: readonly string[]): MirrorChoice {
  const found: MirrorChoice = {};
  const note = (uri: string, suites: string[]) => {
    if (!/^https?:\/\//.test(uri)) return;
    if (suites.includes(DEBIAN_RELEASE)) found.mirror ??= uri.replace(/\/+$/, '');
    if (suites.includes(`${DEBIAN_RELEASE}-security`)) found.securityMirror ??= uri.replace(/\/+$/, '');
  };
  for (const text of texts) {
    for (const stanza of text.split(/\n\s*\n/)) {
      const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'mi').exec(stanza)?.[1]?.trim().split(/\s+/) ?? [];
      if (field('Types').includes('deb') && !/^Enabled:\s*no/im.test(stanza)) for (const uri of field('URIs')) note(uri, field('Suites'));
    }
    for (const line of text.split('\n')) {
      const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
      if (m) note(m[1]!, [m[2]!]);
    }
  }
  return found;
}

/** The Debian mirrors of this machine's apt sources, when it has any (used with --no-apt on a Debian machine). */
export async function machineAptMirrors(etc = '/etc/apt'): Promise<MirrorChoice> {
  const texts: string[] = [];
  const read = (path: string) => readFile(path, 'utf8').then((t) => void texts.push(t), () => {});
  await read(join(etc, 'sources.list'));
  for (const name of (await readdir(join(etc, 'sources.list.d')).catch(() => [] as string[])).sort()) {
    if (name.endsWith('.list') || name.endsWith('.sources')) await read(join(etc, 'sources.list.d', name));
  }
  return mirrorsInAptSources(texts);
}

export interface MirrorOptions {
  cacheRoot: string;
  suites: Suite[];
  log?: Log;
  /** Use a Release past its Valid-Until (the user said so explicitly). */
  allowExpired?: boolean;
  /** The clock Valid-Until is checked against (tests). */
  now?: () => Date;
  keysDir?: string;
  /** Per request, headers and body (default 10 minutes). */
  timeoutMs?: number;
}

/** A download that did not arrive (network error, HTTP status): a suite that fails this way is skipped with a warning, as apt does. */
export class FetchError extends MirrorError {
  override name = 'FetchError';
  constructor(message: string, readonly status?: number) {
    super(message);
  }
}

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
const kB = (n: number) => `${Math.max(1, Math.round(n / 1000))} kB`;
/** Packages indexes (compressed) of bookworm main i386 are ~10 MB; a bound keeps a hostile answer from filling memory. */
const MAX_INDEX_BYTES = 256 << 20;

export class MirrorSource implements PackageSource {
  readonly label: string;
  private readonly log: Log;
  private readonly candidates = new Map<string, { info: PackageInfo; base: string }>();
  private keys: Key[] | undefined;
  private loaded = false;
  private requests = 0;

  constructor(private readonly opts: MirrorOptions) {
    this.log = opts.log ?? (() => {});
    this.label = `mirror ${[...new Set(opts.suites.map((s) => s.base))].join(', ')}`;
  }

  /** GETs a URL into memory, at most `limit` bytes; a network error (not an HTTP status) is retried once. */
  private async get(url: string, limit: number, what: string): Promise<Uint8Array> {
    try {
      return await this.getOnce(url, limit, what);
    } catch (error) {
      // A server may close an idle kept-alive connection just as it is reused.
      if (error instanceof FetchError && error.status === undefined) return this.getOnce(url, limit, what);
      throw error;
    }
  }

  private async getOnce(url: string, limit: number, what: string): Promise<Uint8Array> {
    let response: Response;
    const signal = AbortSignal.timeout(this.opts.timeoutMs ?? 600_000);
    try {
      response = await fetch(url, { signal, redirect: 'follow' });
    } catch (error) {
      throw new FetchError(`cannot fetch ${url}: ${(error as Error).message}`);
    }
    if (!response.ok || !response.body) {
      await response.body?.cancel().catch(() => {});
      throw new FetchError(`cannot fetch ${url}: HTTP ${response.status}`, response.status);
    }
    const data = await readBounded(
      response.body,
      limit,
      () => new HashMismatchError(`${what}: ${url} sends more than the ${limit} bytes expected`),
      (error) => new FetchError(`cannot fetch ${url}: ${(error as Error).message}`),
    );
    this.log(`  Get:${++this.requests} ${url} [${kB(data.length)}]`);
    return data;
  }

  async refresh(_force: boolean): Promise<void> {
    // Lists are fetched fresh for every build (a build only runs when the image is missing or stale).
    if (this.loaded) return;
    this.keys ??= await loadArchiveKeys(this.opts.keysDir ?? KEYS_DIR);
    this.log(`mirror: reading Debian ${ARCH} package lists from ${this.label.replace(/^mirror /, '')} (InRelease checked against ${this.keys.length} archive keys) ...`);
    const failures: string[] = [];
    let suitesLoaded = 0;
    for (const { base, suite } of this.opts.suites) {
      try {
        await this.loadSuite(base, suite);
        suitesLoaded++;
      } catch (error) {
        if (!(error instanceof FetchError)) throw error;
        failures.push(error.message);
      }
    }
    if (!suitesLoaded) throw new MirrorError(`no package list could be fetched: ${failures[0] ?? 'no suites configured'}`);
    if (failures.length) this.log(`mirror: warning: some package lists failed (${failures.length}, first: ${failures[0]}); continuing with what arrived`);
    this.loaded = true;
  }

  private async loadSuite(base: string, suite: string): Promise<void> {
    const dists = `${base}/dists/${suite}`;
    const what = `${dists}/InRelease`;
    const armored = new TextDecoder().decode(await this.get(what, MAX_INRELEASE_BYTES, what));
    const release = parseRelease(await verifyInRelease(armored, this.keys!, what), what);
    checkRelease(release, suite, what, { now: this.opts.now?.(), allowExpired: this.opts.allowExpired });
    const stem = `${COMPONENT}/binary-${ARCH}/Packages`;
    const listed = ['.xz', '.gz', ''].map((ext) => stem + ext).filter((p) => release.sha256.has(p));
    if (!listed.length) throw new MirrorError(`${what} lists no ${stem} index`);
    let lastError: FetchError | undefined;
    for (const path of listed) {
      const entry: IndexEntry = release.sha256.get(path)!;
      // By hash first, as apt does: a mirror in the middle of a sync still serves the file the signed Release names.
      const byHash = `${dists}/${path.slice(0, path.lastIndexOf('/'))}/by-hash/SHA256/${entry.sha256}`;
      const urls = release.acquireByHash ? [byHash, `${dists}/${path}`] : [`${dists}/${path}`];
      let data: Uint8Array | undefined;
      let url = '';
      for (const candidate of urls) {
        url = candidate;
        try {
          data = await this.get(url, Math.min(entry.size, MAX_INDEX_BYTES), url);
          break;
        } catch (error) {
          // Mirrors serve some of the listed forms only; try the next.
          if (error instanceof FetchError && error.status === 404) {
            lastError = error;
            continue;
          }
          throw error;
        }
      }
      if (!data) continue;
      const actual = sha256(data);
      if (data.length !== entry.size || actual !== entry.sha256) {
        throw new HashMismatchError(`${url}: sha256 ${actual} (${data.length} bytes) does not match the signed Release (${entry.sha256}, ${entry.size} bytes)`);
      }
      const text = new TextDecoder().decode(path.endsWith('Packages') ? data : await decompressMember(path, data, url));
      let count = 0;
      for (const info of parsePackages(text, url)) {
        const current = this.candidates.get(info.name);
        if (!current || compareVersions(info.version, current.info.version) > 0) this.candidates.set(info.name, { info, base });
        count++;
      }
      this.log(`mirror: ${suite}: ${count} packages (Release ${release.date?.toISOString() ?? 'undated'}${release.validUntil ? `, valid until ${release.validUntil.toISOString()}` : ''})`);
      return;
    }
    throw lastError ?? new FetchError(`${dists}: no ${stem} index could be fetched`);
  }

  async show(names: readonly string[]): Promise<Map<string, PackageInfo>> {
    const out = new Map<string, PackageInfo>();
    for (const name of names) {
      const hit = this.candidates.get(name);
      if (hit) out.set(name, hit.info);
    }
    return out;
  }

  async dependsClosure(names: readonly string[]): Promise<string[]> {
    const seen = new Set<string>();
    const queue = [...names];
    while (queue.length) {
      const name = queue.shift()!;
      if (seen.has(name)) continue;
      const hit = this.candidates.get(name);
      if (!hit) continue;
      seen.add(name);
      queue.push(...hit.info.depends);
    }
    return [...seen];
  }

  async fetch(packages: readonly PackageInfo[]): Promise<Map<string, FetchedPackage>> {
    const debDir = join(this.opts.cacheRoot, 'debs');
    const tmp = join(this.opts.cacheRoot, 'tmp', `download-${process.pid}-${Date.now()}`);
    await mkdir(debDir, { recursive: true });
    const out = new Map<string, FetchedPackage>();
    const missing: PackageInfo[] = [];
    for (const p of packages) {
      if (!(await sha256File(join(debDir, debFileName(p))).then((h) => h === p.sha256, () => false))) missing.push(p);
    }
    if (missing.length) this.log(`mirror: downloading ${missing.length} package(s), ${(missing.reduce((n, p) => n + p.size, 0) / 1e6).toFixed(1)} MB ...`);
    else this.log(`mirror: all ${packages.length} packages already in the cache (sha256 verified)`);
    await mkdir(tmp, { recursive: true });
    try {
      for (const p of missing) {
        const hit = this.candidates.get(p.name);
        if (!hit || hit.info !== p) throw new MirrorError(`${p.name} ${p.version} is not in the package lists read from the mirror`);
        const url = `${hit.base}/${p.filename}`;
        const data = await this.get(url, p.size, `${p.name} ${p.version}`).catch((error: unknown) => {
          if (error instanceof FetchError && error.status === 404) {
            throw new MissingPackageError(`${p.name} ${p.version} is in the signed package lists but the mirror does not serve ${url} (HTTP 404; a mirror mid-sync, or a partial one)`);
          }
          throw error;
        });
        const actual = sha256(data);
        if (actual !== p.sha256 || data.length !== p.size) {
          throw new HashMismatchError(`${p.name} ${p.version} from ${url}: sha256 ${actual} (${data.length} bytes) does not match the Packages index (${p.sha256}, ${p.size} bytes)`);
        }
        // Written beside, then renamed: an interrupted build leaves no half-written .deb.
        await writeFile(join(tmp, debFileName(p)), data);
        await rename(join(tmp, debFileName(p)), join(debDir, debFileName(p)));
        this.log(`  verified ${p.name} ${p.version} (sha256 ${p.sha256.slice(0, 12)}...)`);
      }
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    for (const p of packages) {
      const debPath = join(debDir, debFileName(p));
      const data = await readFile(debPath);
      // Checked again: the cache may have changed under us, and this is what gets unpacked.
      if (sha256(data) !== p.sha256) throw new HashMismatchError(`${debPath} no longer matches the Packages index sha256`);
      out.set(p.name, { debPath, files: await unpackDeb(data, `${p.name} ${p.version}`) });
    }
    return out;
  }
}
