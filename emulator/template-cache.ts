// Template snapshots: one cold boot per (image, memory, NIC models), saved in
// the user's cache, so that later VMs restore instead of booting.
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { cacheDir } from '../guest-images/paths.ts';
import type { NicModel } from './net/nic.ts';

/** Bump when what the runtime puts in a template changes (cmdline, device layout, snapshot format). */
const TEMPLATE_VERSION = 1;

export function templateDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(cacheDir(env), 'templates');
}

export interface TemplateKey {
  /** Identifies the image: its manifest's file hashes. */
  imageId: string;
  memoryMiB: number;
  nicModels: NicModel[];
}

export function templatePath(key: TemplateKey, dir = templateDir()): string {
  const hash = createHash('sha256')
    .update(JSON.stringify({ v: TEMPLATE_VERSION, image: key.imageId, mem: key.memoryMiB, nics: key.nicModels }))
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

/** Templates of the same shape for other images (an older build) are dead weight of ~60 MB each. */
async function pruneSiblings(path: string): Promise<void> {
  const name = basename(path);
  const prefix = name.slice(0, name.lastIndexOf('-') + 1);
  const names = await readdir(dirname(path)).catch(() => [] as string[]);
  for (const other of names) {
    if (other !== name && other.startsWith(prefix) && other.endsWith('.vmsnap')) await rm(join(dirname(path), other), { force: true });
  }
}
