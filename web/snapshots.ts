// Template snapshots for the browser lab: the ones the Node runtime keeps in
// the cache (emulator/template-cache.ts), listed by what their headers say
// (NIC models, memory, kernel) so that only templates of the current image
// are offered; and, when missing, made once through the Node runtime.
import { open, readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { NicModel } from '../emulator/net/nic.ts';
import { snapshotHeaderLength } from './worker/snapshot.ts';

export const SNAPSHOT_URL_PREFIX = '/snapshots/';
/** The lab's VMs: one NIC of either model. */
export const LAB_TEMPLATES: NicModel[][] = [['e1000'], ['virtio']];
const MEMORY_MIB = 128;

export async function snapshotDir(): Promise<string> {
  const { templateDir } = await import('../emulator/template-cache.ts');
  return templateDir();
}

async function readHeader(path: string): Promise<{ memoryMiB: number; nics: { model: NicModel }[]; image: { kernelVersion: string; recipeHash?: string } } | undefined> {
  const file = await open(path, 'r').catch(() => undefined);
  if (!file) return undefined;
  try {
    const head = new Uint8Array(12);
    await file.read(head, 0, 12, 0);
    const length = snapshotHeaderLength(head);
    if (length === undefined || length > 1 << 20) return undefined;
    const json = new Uint8Array(length);
    await file.read(json, 0, length, 12);
    return JSON.parse(new TextDecoder().decode(json));
  } catch {
    return undefined;
  } finally {
    await file.close();
  }
}

/**
 * NIC model list ('e1000', 'e1000+virtio') -> URL of a template of the current
 * image with the lab's memory size. The newest file wins when several match.
 */
export async function listSnapshots(kernelVersion: string, recipeHash: string, dir?: string): Promise<Record<string, string>> {
  const folder = dir ?? (await snapshotDir());
  const names = (await readdir(folder).catch(() => [] as string[])).filter((n) => n.endsWith('.vmsnap')).sort();
  const found: Record<string, string> = {};
  for (const name of names) {
    const header = await readHeader(join(folder, name));
    if (!header || header.memoryMiB !== MEMORY_MIB || header.image?.kernelVersion !== kernelVersion) continue;
    if (header.image.recipeHash !== undefined && header.image.recipeHash !== recipeHash) continue;
    found[header.nics.map((n) => n.model).join('+')] = SNAPSHOT_URL_PREFIX + encodeURIComponent(basename(name));
  }
  return found;
}

/** Makes the lab's templates that are missing, one cold boot each, through the Node runtime. */
export async function ensureTemplates(log: (line: string) => void, sets: NicModel[][] = LAB_TEMPLATES): Promise<void> {
  const { VirtualMachine } = await import('../emulator/vm.ts');
  for (const models of sets) {
    const vm = await VirtualMachine.start({ name: 'template', memoryMiB: MEMORY_MIB, nics: models.map((model) => ({ model })), template: true, log });
    if (vm.startInfo.kind === 'template-created') log(`template snapshot for ${models.join('+')} made in ${(vm.startInfo.ms / 1000).toFixed(1)} s`);
    await vm.stop();
  }
}
