// The guest image without apt-get (issue 16): a Debian mirror served on
// 127.0.0.1 from exactly what the apt path downloaded (its signed InRelease
// files, the uncompressed Packages they list, the .debs in the download cache)
// builds an image byte-identical to the apt path's, and tampering with a .deb,
// a Packages index or InRelease is refused with the matching error.
// Guest kind: `npm test` builds the image with apt before these run, so the
// cache holds what the mirror needs; elsewhere the test says what is missing and skips.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { debFileName } from '../../guest-images/apt.ts';
import { prepareInputs, writeImage } from '../../guest-images/build.ts';
import { assemble } from '../../guest-images/initramfs.ts';
import { MirrorSource, debianSuites, type MirrorOptions } from '../../guest-images/mirror.ts';
import { cacheDir } from '../../guest-images/paths.ts';
import { MissingPackageError } from '../../guest-images/source.ts';
import { ExpiredReleaseError, HashMismatchError, SignatureError, parsePackages, parseRelease } from '../../guest-images/release.ts';

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

interface MirrorFiles {
  /** URL path -> bytes or a file to read. */
  files: Map<string, Uint8Array | string>;
  /** The security suite's InRelease apt fetched (it has a Valid-Until), when there is one. */
  securityInRelease?: Uint8Array;
}

/** Decompresses one of apt's lz4 lists with the lz4 tool or apt's own helper; undefined when neither runs. */
function unlz4(path: string): Uint8Array | undefined {
  for (const [tool, args] of [['lz4', ['-dc', path]], ['/usr/lib/apt/apt-helper', ['cat-file', path]]] as const) {
    const result = spawnSync(tool, args, { maxBuffer: 1 << 30 });
    if (!result.error && result.status === 0) return new Uint8Array(result.stdout);
  }
  return undefined;
}

/** The mirror's files from the apt path's cache, or why they cannot be had. */
function mirrorFromCache(cache: string): MirrorFiles | string {
  const lists = join(cache, 'apt', 'lists');
  if (!existsSync(lists)) return `no apt lists in ${lists} (build the image with apt first: 'vmswitch image build')`;
  const files = new Map<string, Uint8Array | string>();
  let packages = 0;
  for (const name of readdirSync(lists)) {
    const m = /^[^_]+_(debian(?:-security)?)_dists_([a-z-]+)_InRelease$/.exec(name);
    if (!m) continue;
    const [, archive, suite] = m;
    const dists = `/${archive}/dists/${suite}`;
    files.set(`${dists}/InRelease`, join(lists, name));
    const stem = join(lists, name.replace(/_InRelease$/, '_main_binary-i386_Packages'));
    const text = existsSync(stem) ? readFileSync(stem) : existsSync(`${stem}.lz4`) ? unlz4(`${stem}.lz4`) : undefined;
    if (!text) return `no readable Packages list beside ${name} in ${lists} (apt keeps them lz4-compressed: needs lz4 or apt-helper)`;
    files.set(`${dists}/main/binary-i386/Packages`, text);
    for (const p of parsePackages(new TextDecoder().decode(text), name)) {
      const deb = join(cache, 'debs', debFileName(p));
      if (existsSync(deb)) {
        files.set(`/${archive}/${p.filename}`, deb);
        packages++;
      }
    }
  }
  if (!packages) return `no cached .deb matches the apt lists in ${lists}`;
  // apt keeps a suite's InRelease in partial/ when the suite's Packages failed (a security mirror mid-sync).
  const security = [lists, join(lists, 'partial')]
    .flatMap((dir) => (existsSync(dir) ? readdirSync(dir).map((n) => join(dir, n)) : []))
    .find((path) => path.endsWith('_debian-security_dists_bookworm-security_InRelease'));
  return { files, ...(security ? { securityInRelease: readFileSync(security) } : {}) };
}

/** A plain static server over `files`; `tamper` may change what one path answers. */
async function serve(files: Map<string, Uint8Array | string>, tamper?: (path: string, data: Uint8Array) => Uint8Array): Promise<{ url: string; server: Server; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    requests.push(path);
    const hit = files.get(path);
    if (hit === undefined) {
      res.writeHead(404, { connection: 'close' }).end();
      return;
    }
    let data: Uint8Array = typeof hit === 'string' ? readFileSync(hit) : hit;
    if (tamper) data = tamper(path, data);
    res.writeHead(200, { 'content-length': data.length, connection: 'close' }).end(data);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, requests };
}

function flipByte(data: Uint8Array, at: number): Uint8Array {
  const copy = new Uint8Array(data);
  copy[at] ^= 0x01;
  return copy;
}

async function withMirror<T>(files: Map<string, Uint8Array | string>, tamper: ((path: string, data: Uint8Array) => Uint8Array) | undefined, fn: (url: string, requests: string[]) => Promise<T>): Promise<T> {
  const { url, server, requests } = await serve(files, tamper);
  try {
    return await fn(url, requests);
  } finally {
    // Keep-alive sockets too: a later server on the same port must not be answered by this one.
    server.closeAllConnections();
    server.close();
  }
}

function mirrorSource(url: string, cacheRoot: string, extra: Partial<MirrorOptions> = {}): MirrorSource {
  // The cached InRelease may be past its Valid-Until by now: this test is about the bytes, not the clock.
  return new MirrorSource({ cacheRoot, suites: debianSuites(`${url}/debian`, `${url}/debian-security`), allowExpired: true, ...extra });
}

const mirror = mirrorFromCache(cacheDir());

test('image without apt: a local mirror of the cached packages builds the byte-identical image and manifest', { timeout: 600_000 }, async (t) => {
  if (typeof mirror === 'string') return t.skip(mirror);
  let aptInputs;
  try {
    aptInputs = await prepareInputs({ cacheRoot: cacheDir(), offline: true });
  } catch (error) {
    return t.skip(`the apt path cannot build from the cache ${cacheDir()}: ${(error as Error).message}`);
  }
  const work = mkdtempSync(join(tmpdir(), 'vmswitch-mirror-'));
  try {
    const aptOut = join(work, 'apt');
    const aptManifest = await writeImage(await assemble(aptInputs), aptOut);

    const cacheRoot = join(work, 'cache');
    const lines: string[] = [];
    const mirrorManifest = await withMirror(mirror.files, undefined, async (url, requests) => {
      const source = mirrorSource(url, cacheRoot, { log: (l) => lines.push(l) });
      const inputs = await prepareInputs({ cacheRoot, source, log: (l) => lines.push(l) });
      // Everything came over HTTP from the mirror into the empty cache, each .deb once.
      const debRequests = requests.filter((r) => r.endsWith('.deb'));
      assert.equal(debRequests.length, new Set(debRequests).size);
      assert.equal(debRequests.length, [inputs.kernel, inputs.busybox, inputs.bios, ...inputs.tools, ...inputs.libraries].length);
      return writeImage(await assemble(inputs), join(work, 'mirror'));
    });
    assert.ok(lines.some((l) => /verified linux-image-/.test(l)), 'progress names the verified downloads');
    assert.ok(lines.some((l) => /warning: some package lists failed/.test(l)) || !lines.some((l) => /bookworm-security/.test(l)), 'a suite the mirror lacks is a warning, as with apt');

    assert.equal(readFileSync(join(work, 'mirror', 'manifest.json'), 'utf8'), readFileSync(join(aptOut, 'manifest.json'), 'utf8'), 'manifest.json byte-identical');
    assert.deepEqual(mirrorManifest, aptManifest);
    for (const name of Object.keys(aptManifest.files)) {
      assert.equal(sha256(readFileSync(join(work, 'mirror', name))), sha256(readFileSync(join(aptOut, name))), `${name} byte-identical`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test('image without apt: a tampered .deb, Packages or InRelease is refused with the matching error', { timeout: 600_000 }, async (t) => {
  if (typeof mirror === 'string') return t.skip(mirror);
  const work = mkdtempSync(join(tmpdir(), 'vmswitch-mirror-bad-'));
  let run = 0;
  const attempt = (tamper: (path: string, data: Uint8Array) => Uint8Array) =>
    withMirror(mirror.files, tamper, (url) => {
      const cacheRoot = join(work, `cache-${run++}`);
      return prepareInputs({ cacheRoot, source: mirrorSource(url, cacheRoot) });
    });
  try {
    // One byte of the BIOS package (the smallest download the build makes).
    await assert.rejects(
      attempt((path, data) => (/\/seabios_[^/]*\.deb$/.test(path) ? flipByte(data, data.length >> 1) : data)),
      (error: Error) => error instanceof HashMismatchError && /seabios .* does not match the Packages index/.test(error.message),
    );
    // One byte of a Packages index: it no longer matches the signed Release hash.
    await assert.rejects(
      attempt((path, data) => (path.endsWith('/bookworm-updates/main/binary-i386/Packages') ? flipByte(data, 100) : data)),
      (error: Error) => error instanceof HashMismatchError && /Packages: sha256 .* does not match the signed Release/.test(error.message),
    );
    // The signed text of InRelease altered: every archive-key signature is bad.
    await assert.rejects(
      attempt((path, data) => (path.endsWith('/bookworm/InRelease') ? new TextEncoder().encode(new TextDecoder().decode(data).replace(/^(Codename: .*)$/m, '$1x')) : data)),
      (error: Error) => error instanceof SignatureError && /bad signature/.test(error.message),
    );
    // A signature-stripped InRelease (just the text) is not accepted either.
    await assert.rejects(
      attempt((path, data) => (path.endsWith('/bookworm/InRelease') ? new TextEncoder().encode(new TextDecoder().decode(data).replace(/^[\s\S]*?\n\n/, '').replace(/-----BEGIN PGP SIGNATURE-----[\s\S]*$/, '')) : data)),
      SignatureError,
    );
    // A package the mirror does not have.
    const withoutKernel = new Map([...mirror.files].filter(([path]) => !/\/linux-image-[0-9][^/]*\.deb$/.test(path)));
    await assert.rejects(
      withMirror(withoutKernel, undefined, (url) => prepareInputs({ cacheRoot: join(work, 'cache-nokernel'), source: mirrorSource(url, join(work, 'cache-nokernel')) })),
      (error: Error) => error instanceof MissingPackageError && /linux-image-\S+ \S+ is in the signed package lists but the mirror does not serve .*HTTP 404/.test(error.message),
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test('image without apt: a Release past its Valid-Until is refused unless expiry is allowed explicitly', async (t) => {
  if (typeof mirror === 'string') return t.skip(mirror);
  if (!mirror.securityInRelease) return t.skip('apt fetched no bookworm-security InRelease into the cache (the suite with a Valid-Until)');
  const release = parseRelease(new TextDecoder().decode(mirror.securityInRelease), 'security InRelease');
  if (!release.validUntil) return t.skip('the cached bookworm-security InRelease has no Valid-Until');
  const files = new Map<string, Uint8Array | string>([['/debian-security/dists/bookworm-security/InRelease', mirror.securityInRelease]]);
  const after = new Date(release.validUntil.getTime() + 1000);
  const work = mkdtempSync(join(tmpdir(), 'vmswitch-mirror-exp-'));
  try {
    await withMirror(files, undefined, async (url) => {
      const suites = [{ base: `${url}/debian-security`, suite: 'bookworm-security' }];
      await assert.rejects(new MirrorSource({ cacheRoot: work, suites, now: () => after }).refresh(false), ExpiredReleaseError);
      // Allowed: the signature and suite still count; it then fails only for want of a Packages list (not served here).
      await assert.rejects(new MirrorSource({ cacheRoot: work, suites, now: () => after, allowExpired: true }).refresh(false), /no package list could be fetched.*Packages.*HTTP 404/);
      // Before Valid-Until the same file passes the expiry check without the flag.
      const before = new Date(release.validUntil!.getTime() - 1000);
      await assert.rejects(new MirrorSource({ cacheRoot: work, suites, now: () => before }).refresh(false), /no package list could be fetched.*Packages.*HTTP 404/);
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
