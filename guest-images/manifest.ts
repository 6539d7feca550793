// manifest.json: what an image was built from, and the recipe hash that says
// whether it is stale.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { RECIPE } from './recipe.ts';
import { SOURCE_DIR } from './paths.ts';

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
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) out.push(path);
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

export function parseManifest(text: string): Manifest {
  const data = JSON.parse(text) as Partial<Manifest>;
  if (data.format !== 1 || typeof data.recipeHash !== 'string' || typeof data.kernelVersion !== 'string' || !data.files || !Array.isArray(data.packages)) {
    throw new Error('manifest.json is not a vmswitch image manifest (format 1)');
  }
  return data as Manifest;
}
