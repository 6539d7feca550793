// Template snapshots the Node runtime keeps in the cache, as the browser lab
// lists them: NIC model list ('e1000', 'e1000+virtio', ...) -> URL.
// The Node runtime's template format is not readable by the browser yet
// (see worker/snapshot.ts), so none are offered and VMs boot cold.
import { join } from 'node:path';
import { cacheDir } from '../guest-images/paths.ts';

export const SNAPSHOT_URL_PREFIX = '/snapshots/';

export function snapshotDir(): string {
  return join(cacheDir(), 'templates');
}

export async function listSnapshots(): Promise<Record<string, string>> {
  return {};
}
