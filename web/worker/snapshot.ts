// A template snapshot as the worker restores it. The container is the Node
// runtime's (emulator/vm.ts); until that format exists the lab lists no
// snapshots and every VM boots cold.
import type { NicModel } from '../../emulator/net/nic.ts';

export interface BrowserSnapshot {
  memoryMiB: number;
  nics: NicModel[];
  /** The template's MACs, in NIC order (replaced by the VM's own after restore). */
  macs: string[];
  nicStates: unknown[];
  v86State: Uint8Array;
}

export function parseBrowserSnapshot(bytes: Uint8Array): BrowserSnapshot {
  throw new Error(`cannot read this ${bytes.length}-byte snapshot: the template format is not known to the browser lab yet`);
}
