// manifest.json: what an image was built from, and the recipe hash that says
// whether it is stale.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { RECIPE } from './recipe.ts';
import { isRuntimeCode, SOURCE_DIR } from './paths.ts';

export type PackageRole = 'kernel' | 'busybox' | 'bios' | 'tool' | 'library';

export interface ManifestFile {
  sha256: string;
  size: number;
}

export interface Manifest {
  format: 1;
  /** Hash of the builder's sources and recipe; a different hash means the image is stale. */
  recipeHash: string;
  /** `uname -r` of the guest kernel, e.g. 6.1.0-50-686. */
  kernelVersion: string;
  /** Every package whose files are in the image. */
  packages: Array<{ name: string; version: string; role: PackageRole; debSha256: string }>;
  /** Shipped kernel modules in load order, and wanted modules the kernel has built in. */
  modules: string[];
  builtinModules: string[];
  /** Shared libraries in /lib, by soname, with the package that provided each. */
  libraries: Array<{ soname: string; package: string }>;
  /** Output files of the build folder. */
  files: Record<OutputName, ManifestFile>;
  /** sha256 of the uncompressed cpio, so two builds can be compared without gzip in the way. */
  initramfsCpioSha256: string;
}

export const OUTPUT_FILES = { kernel: 'vmlinuz', initrd: 'initramfs.cpio.gz', bios: 'bios.bin', vgaBios: 'vgabios.bin' } as const;
export type OutputName = (typeof OUTPUT_FILES)[keyof typeof OUTPUT_FILES];
export const MANIFEST_FILE = 'manifest.json';

function builderSources(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'build' || entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) builderSources(path, out);
    // Tests and fuzzers build nothing that goes into the image; the package hashes its .js.
    else if (isRuntimeCode(entry.name)) out.push(path);
  }
  return out;
}

/**
 * The recipe hash: every builder source file (tests excluded), the recipe, and
 * Node's zlib version (it decides the gzip bytes).
 */
export function recipeHash(sourceDir = SOURCE_DIR): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify({ recipe: RECIPE, zlib: process.versions.zlib }));
  for (const path of builderSources(sourceDir).map((p) => relative(sourceDir, p)).sort()) {
    hash.update(`\0${path}\0`);
    hash.update(readFileSync(join(sourceDir, path)));
  }
  return hash.digest('hex');
}

/**
 * manifest.json that cannot be used (not JSON, not a manifest, a field of the
 * wrong type or out of bounds). A SyntaxError, as JSON.parse's own: the text
 * is not a manifest.
 */
export class ManifestFormatError extends SyntaxError {
  override name = 'ManifestFormatError';
}

/** Ours are a few KiB; a bound keeps a stray huge file from being parsed. */
export const MAX_MANIFEST_BYTES = 1 << 20;
const SHA256_HEX = /^[0-9a-f]{64}$/;
/** What `uname -r` prints; it names a directory in the initramfs. */
const KERNEL_RELEASE = /^[0-9A-Za-z._+~-]{1,64}$/;
const OUTPUT_NAMES: readonly string[] = Object.values(OUTPUT_FILES);
const ROLES: readonly string[] = ['kernel', 'busybox', 'bios', 'tool', 'library'] satisfies PackageRole[];

type Fields = Partial<Record<string, unknown>>;
const isRecord = (value: unknown): value is Fields => typeof value === 'object' && value !== null && !Array.isArray(value);
const isText = (value: unknown, max = 256): value is string => typeof value === 'string' && value.length <= max;
const isTextList = (value: unknown): value is string[] => Array.isArray(value) && value.length <= 10_000 && value.every((item) => isText(item));

/**
 * Reads manifest.json. Every field is checked, since the image's files are
 * found and trusted through it (staleReason hashes the files it names):
 * exactly the four output files, each with a SHA-256 and a size. Throws
 * ManifestFormatError naming what is wrong.
 */
export function parseManifest(text: string): Manifest {
  const bad = (what: string): ManifestFormatError => new ManifestFormatError(`manifest.json is not a vmswitch image manifest (format 1): ${what}`);
  if (text.length > MAX_MANIFEST_BYTES) throw bad(`${text.length} bytes, over the ${MAX_MANIFEST_BYTES}-byte limit`);
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw bad(`not JSON (${(error as Error).message})`);
  }
  if (!isRecord(data)) throw bad('not an object');
  if (data.format !== 1) throw bad(`format ${JSON.stringify(data.format)?.slice(0, 20)}`);
  if (!isText(data.recipeHash)) throw bad('no recipeHash');
  if (!isText(data.kernelVersion) || !KERNEL_RELEASE.test(data.kernelVersion)) throw bad('no valid kernelVersion');
  if (!isText(data.initramfsCpioSha256)) throw bad('no initramfsCpioSha256');
  if (!isRecord(data.files)) throw bad('no file list');
  for (const name of Object.keys(data.files)) if (!OUTPUT_NAMES.includes(name)) throw bad(`unknown file ${JSON.stringify(name.slice(0, 40))}`);
  for (const name of OUTPUT_NAMES) {
    const file = data.files[name];
    if (!isRecord(file) || typeof file.sha256 !== 'string' || !SHA256_HEX.test(file.sha256) || !Number.isSafeInteger(file.size) || (file.size as number) < 0) {
      throw bad(`file ${name} has no valid sha256 and size`);
    }
  }
  const packageOk = (item: unknown): boolean => isRecord(item) && isText(item.name) && isText(item.version) && ROLES.includes(item.role as string) && isText(item.debSha256);
  if (!Array.isArray(data.packages) || data.packages.length > 10_000 || !data.packages.every(packageOk)) throw bad('bad package list');
  if (!isTextList(data.modules) || !isTextList(data.builtinModules)) throw bad('bad module lists');
  const libraryOk = (item: unknown): boolean => isRecord(item) && isText(item.soname) && isText(item.package);
  if (!Array.isArray(data.libraries) || data.libraries.length > 10_000 || !data.libraries.every(libraryOk)) throw bad('bad library list');
  return data as unknown as Manifest;
}
