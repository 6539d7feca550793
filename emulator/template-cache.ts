// Template snapshots: one cold boot per (image, memory, NIC models), saved in
// the user's cache, so that later VMs restore instead of booting.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheDir, isRuntimeCode } from '../guest-images/paths.ts';
import type { NicModel } from './net/nic.ts';

/** Bump when what the runtime puts in a template changes (cmdline, device layout, snapshot format). */
const TEMPLATE_VERSION = 3;

let codeHash: string | undefined;

/**
 * A template holds our devices' saved state and the v86 state: when the code
 * that writes either changes (device models, the adapter, the VM runtime, the
 * v86 package), old templates must not be restored.
 */
export function runtimeCodeHash(): string {
  codeHash ??= hashRuntimeSources(fileURLToPath(new URL('.', import.meta.url)));
  return codeHash;
}

/** The hash runtimeCodeHash keys templates by, over the code under `emulatorDir` (a copy, in tests). */
export function hashRuntimeSources(emulatorDir: string): string {
  const hash = createHash('sha256');
  const visit = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(dir, entry.name);
      // Tests, fuzzers and their helpers (testing.ts) write nothing a template holds.
      // What runs is hashed: the .ts sources under tsx, the compiled .js in the package.
      if (entry.isDirectory()) visit(path);
      else if (isRuntimeCode(entry.name)) {
        hash.update(relative(emulatorDir, path)).update('\0').update(readFileSync(path)).update('\0');
      }
    }
  };
  visit(emulatorDir);
  const require = createRequire(import.meta.url);
  hash.update(readFileSync(require.resolve('v86/package.json')));
  return hash.digest('hex');
}

export function templateDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(cacheDir(env), 'templates');
}

export interface TemplateKey {
  /** Identifies the image: its manifest's file hashes. */
  imageId: string;
  memoryMiB: number;
  nicModels: NicModel[];
  /** Defaults to runtimeCodeHash(). */
  codeId?: string;
}

export function templatePath(key: TemplateKey, dir = templateDir()): string {
  const hash = createHash('sha256')
    .update(JSON.stringify({ v: TEMPLATE_VERSION, image: key.imageId, code: key.codeId ?? runtimeCodeHash(), mem: key.memoryMiB, nics: key.nicModels }))
    .digest('hex')
    .slice(0, 24);
  const nics = key.nicModels.length ? key.nicModels.join('-') : 'nonic';
  return join(dir, `${key.memoryMiB}m-${nics}-${hash}.vmsnap`);
}

export async function readTemplate(path: string): Promise<Uint8Array | undefined> {
  try {
    return new Uint8Array(await readFile(path));
  } catch {
    return undefined;
  }
}

/** Temp file + rename: a reader never sees half a template, concurrent writers do not clash. */
export async function writeTemplate(path: string, bytes: Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temp = `${path}.${process.pid}.${Date.now()}.tmp`;
  try {
    await writeFile(temp, bytes);
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await pruneSiblings(path);
}

/** Templates of the same shape for other images (an older build) are dead weight of ~20 MB each. */
async function pruneSiblings(path: string): Promise<void> {
  const name = basename(path);
  const prefix = name.slice(0, name.lastIndexOf('-') + 1);
  const names = await readdir(dirname(path)).catch(() => [] as string[]);
  for (const other of names) {
    // Same shape = the same prefix followed by nothing but another hash: '128m-e1000-' must not take '128m-e1000-virtio-...'.
    if (other !== name && other.startsWith(prefix) && /^[0-9a-f]+\.vmsnap$/.test(other.slice(prefix.length))) await rm(join(dirname(path), other), { force: true });
  }
}
