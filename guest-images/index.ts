// Public API of the guest image builder.
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { BUILD_DIR, cacheDir } from './paths.ts';
import { MANIFEST_FILE, OUTPUT_FILES, parseManifest, recipeHash, type Manifest } from './manifest.ts';
import { AptSource, hasDebianTools, prepareInputs, writeImage } from './build.ts';
import { MirrorSource, debianSuites, machineAptMirrors } from './mirror.ts';
import { MirrorError } from './release.ts';
import type { PackageSource } from './source.ts';
import { assemble } from './initramfs.ts';
import type { Log } from './apt.ts';
import { withBuildLock } from './lock.ts';

export type { Manifest } from './manifest.ts';
export { READY_LINE } from './init/init.ts';
export { cacheDir } from './paths.ts';
export { ExpiredReleaseError, HashMismatchError, MirrorError, SignatureError } from './release.ts';
export { MissingPackageError } from './source.ts';

export interface GuestImage {
  dir: string;
  kernel: string;
  initrd: string;
  bios: string;
  vgaBios: string;
  manifest: Manifest;
}

export interface ImagePaths extends Omit<GuestImage, 'manifest'> {
  manifestPath: string;
  /** The manifest when an image has been built (not checked for staleness). */
  manifest?: Manifest;
}

/** Where the image files are; reads manifest.json when present, nothing else. */
export function imagePaths(dir = BUILD_DIR): ImagePaths {
  const manifestPath = join(dir, MANIFEST_FILE);
  let manifest: Manifest | undefined;
  if (existsSync(manifestPath)) {
    try {
      manifest = parseManifest(readFileSync(manifestPath, 'utf8'));
    } catch {
      manifest = undefined;
    }
  }
  return {
    dir,
    kernel: join(dir, OUTPUT_FILES.kernel),
    initrd: join(dir, OUTPUT_FILES.initrd),
    bios: join(dir, OUTPUT_FILES.bios),
    vgaBios: join(dir, OUTPUT_FILES.vgaBios),
    manifestPath,
    ...(manifest ? { manifest } : {}),
  };
}

export async function readManifest(dir = BUILD_DIR): Promise<Manifest | undefined> {
  const text = await readFile(join(dir, MANIFEST_FILE), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    return parseManifest(text);
  } catch {
    return undefined;
  }
}

async function fileSha256(path: string): Promise<string | undefined> {
  try {
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
    return hash.digest('hex');
  } catch {
    return undefined;
  }
}

/** Why the built image cannot be used as is, or undefined when it is current. */
export async function staleReason(dir = BUILD_DIR): Promise<string | undefined> {
  const manifest = await readManifest(dir);
  if (!manifest) return 'no image has been built';
  if (manifest.recipeHash !== recipeHash()) return 'the recipe changed since it was built';
  for (const [name, expected] of Object.entries(manifest.files)) {
    if ((await fileSha256(join(dir, name))) !== expected.sha256) return `${name} is missing or does not match the manifest`;
  }
  return undefined;
}

export interface EnsureOptions {
  force?: boolean;
  log?: Log;
  /** Defaults to $XDG_CACHE_HOME/vmswitch/image (BUILD_DIR). */
  outDir?: string;
  /** Defaults to $XDG_CACHE_HOME/vmswitch or ~/.cache/vmswitch. */
  cacheRoot?: string;
  /**
   * Where the Debian packages come from: 'apt' (the machine's apt-get and
   * dpkg-deb), 'mirror' (a Debian mirror read directly, checked against the
   * archive keys in keys/), or 'auto' (apt when it is there, else the mirror).
   * Default: 'mirror' when VMSWITCH_NO_APT=1, else 'auto'.
   */
  source?: PackageSourceKind;
  /** Mirror for bookworm and bookworm-updates; default VMSWITCH_DEBIAN_MIRROR, else the one the machine's apt sources name. */
  mirror?: string;
  /** Mirror for bookworm-security; default VMSWITCH_DEBIAN_SECURITY_MIRROR, else the machine's apt sources' (left out without one). */
  securityMirror?: string;
  /** Use Release files past their Valid-Until (mirror path); default VMSWITCH_ALLOW_EXPIRED=1. */
  allowExpired?: boolean;
}

export type PackageSourceKind = 'auto' | 'apt' | 'mirror';

const truthy = (value: string | undefined) => value === '1' || value === 'true' || value === 'yes';

/** The package source a build uses, from the options, then the environment, then what the machine has. */
export async function packageSource(opts: EnsureOptions, cacheRoot: string, log: Log, env: NodeJS.ProcessEnv = process.env, aptEtc = '/etc/apt'): Promise<PackageSource> {
  const kind = opts.source ?? (truthy(env.VMSWITCH_NO_APT) ? 'mirror' : 'auto');
  if (kind === 'apt' || (kind === 'auto' && (await hasDebianTools()))) {
    if (opts.mirror || opts.securityMirror || opts.allowExpired) log('note: the mirror options apply to the mirror path; this build uses apt (add --no-apt to read the mirror)');
    return new AptSource({ cacheRoot, log });
  }
  if (kind === 'auto') log('apt-get/dpkg-deb not found: reading the Debian mirror directly (as with --no-apt)');
  const machine = await machineAptMirrors(aptEtc);
  const mirror = opts.mirror ?? (env.VMSWITCH_DEBIAN_MIRROR || machine.mirror);
  const securityMirror = opts.securityMirror ?? (env.VMSWITCH_DEBIAN_SECURITY_MIRROR || machine.securityMirror);
  if (!mirror) {
    throw new MirrorError('no Debian mirror configured: pass --mirror URL (the /debian folder of any Debian archive mirror) or set VMSWITCH_DEBIAN_MIRROR; --security-mirror (VMSWITCH_DEBIAN_SECURITY_MIRROR) adds bookworm-security');
  }
  if (!securityMirror) log('mirror: no security mirror configured (--security-mirror): bookworm-security is left out');
  return new MirrorSource({ cacheRoot, log, suites: debianSuites(mirror, securityMirror), allowExpired: opts.allowExpired ?? truthy(env.VMSWITCH_ALLOW_EXPIRED) });
}

/** Returns the image, building it first when it is missing, stale, or `force` is set. */
export async function ensureImage(opts: EnsureOptions = {}): Promise<GuestImage> {
  const dir = opts.outDir ?? BUILD_DIR;
  const log = opts.log ?? (() => {});
  if (opts.force || (await staleReason(dir))) {
    await withBuildLock(dir, () => log('waiting for another build of the guest image to finish ...'), async () => {
      // Whoever held the lock may just have built it.
      const reason = opts.force ? 'forced rebuild' : await staleReason(dir);
      if (!reason) return;
      log(`building the guest image (${reason}) ...`);
      const cacheRoot = opts.cacheRoot ?? cacheDir();
      const source = await packageSource(opts, cacheRoot, log);
      const inputs = await prepareInputs({ cacheRoot, force: opts.force ?? false, log, source });
      const assembled = await assemble(inputs, log);
      await writeImage(assembled, dir);
      log(`guest image written to ${dir}`);
    });
  }
  const paths = imagePaths(dir);
  if (!paths.manifest) throw new Error(`guest image in ${dir} has no readable manifest after the build`);
  return { ...paths, manifest: paths.manifest };
}
