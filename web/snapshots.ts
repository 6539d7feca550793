// Template snapshots for the browser lab: the ones the Node runtime keeps in
// the cache (emulator/template-cache.ts), listed by what their headers say
// (NIC models, memory, kernel) so that only templates of the current image
// are offered; and, when missing, made once through the Node runtime.
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Manifest } from '../guest-images/index.ts';
import type { NicModel } from '../emulator/net/nic.ts';
import { decodeSnapshotHeader, MAX_HEADER_BYTES, SNAPSHOT_HEADER_OFFSET, snapshotHeaderLength, type SnapshotHeader } from '../emulator/snapshot.ts';
import { imageId } from '../emulator/template-id.ts';

export const SNAPSHOT_URL_PREFIX = '/snapshots/';
/** The lab's VMs: one NIC of either model. */
export const LAB_TEMPLATES: NicModel[][] = [['e1000'], ['virtio']];
const MEMORY_MIB = 128;

export async function snapshotDir(): Promise<string> {
  const { templateDir } = await import('../emulator/template-cache.ts');
  return templateDir();
}

/** Only the file's head is read: a template is ~20 MB of compressed guest state after it. */
async function readHeader(path: string): Promise<SnapshotHeader | undefined> {
  const file = await open(path, 'r').catch(() => undefined);
  if (!file) return undefined;
  try {
    const prefix = new Uint8Array(SNAPSHOT_HEADER_OFFSET);
    await file.read(prefix, 0, prefix.length, 0);
    const length = snapshotHeaderLength(prefix);
    if (length === undefined || length > MAX_HEADER_BYTES) return undefined;
    const head = new Uint8Array(SNAPSHOT_HEADER_OFFSET + length);
    await file.read(head, 0, head.length, 0);
    return decodeSnapshotHeader(head);
  } catch {
    return undefined;
  } finally {
    await file.close();
  }
}

/**
 * NIC model list ('e1000', 'virtio') -> URL of the template the Node runtime
 * would restore for this image, memory size and emulator code right now.
 * Only that exact file is offered: an older template may hold device state
 * in a format the current models cannot read.
 */
export async function listSnapshots(manifest: Manifest, sets: NicModel[][] = LAB_TEMPLATES, dir?: string): Promise<Record<string, string>> {
  const { templatePath } = await import('../emulator/template-cache.ts');
  const found: Record<string, string> = {};
  const id = await imageId(manifest);
  for (const models of sets) {
    const key = { imageId: id, memoryMiB: MEMORY_MIB, nicModels: models };
    const path = dir === undefined ? templatePath(key) : templatePath(key, dir);
    const header = await readHeader(path);
    if (!header || header.memoryMiB !== MEMORY_MIB || header.image.kernelVersion !== manifest.kernelVersion) continue;
    if (header.nics.map((n) => n.model).join('+') !== models.join('+')) continue;
    found[models.join('+')] = SNAPSHOT_URL_PREFIX + encodeURIComponent(basename(path));
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
