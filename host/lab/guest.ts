// What the Lab needs of a running VM and of the thing that starts one. A VM
// in its own worker thread (emulator/worker/vm-thread.ts, the default) and the
// runtime's VirtualMachine on the main thread (emulator/vm.ts, `thread: 'main'`,
// for tests and debugging) both satisfy LabGuest; the Lab's unit tests pass
// scripted guests, so host/lab itself never loads v86. Both launches are
// loaded dynamically: host/lab has no static Node import and bundles for the page.
import type { GuestNic, NicModel } from '../../emulator/net/nic.ts';

export interface GuestExecResult {
  output: string;
  exitCode: number;
}

export interface LabGuest {
  readonly nics: readonly GuestNic[];
  /** The serial console: output as it comes; `write` types into it (for an interactive attach). */
  readonly console: { onData(listener: (bytes: Uint8Array) => void): () => void; write?(input: string | Uint8Array): void };
  readonly isStopped: boolean;
  /**
   * Settles when the VM has stopped; reason 'poweroff' or 'reboot' when the
   * guest ended itself, 'failed' (with `detail`) when its thread died.
   */
  readonly ended?: Promise<{ reason: string; detail?: string }>;
  exec(command: string, opts?: { timeoutMs?: number }): Promise<GuestExecResult>;
  /**
   * A VM in another thread: its NICs' counters are copies, posted when they
   * change (about once a second); this brings them up to date. Absent on the
   * main thread, where they are always current.
   */
  refreshCounters?(): Promise<void>;
  /** Frees the emulator (idempotent). */
  stop(): Promise<void>;
}

export interface GuestLaunch {
  name: string;
  /** mac: lower-case colon-separated (default: derived from the name). */
  nics: { model: NicModel; mac?: string }[];
  hostname: string;
  /** Guest RAM (default: the runtime's). */
  memoryMiB?: number;
  /** CIDR per NIC ('-': none). */
  ip: string[];
  /** Every lab VM's name -> eth0 address, for the guest's /etc/hosts. */
  hosts: Record<string, string>;
  /** Restore from the cached template for this NIC list (made once by a cold boot). */
  template: boolean;
  /** Progress lines (image build, template creation). */
  log?: (line: string) => void;
  /** Salts the MACs made from VM names, so that two labs (joined by an uplink) do not share MACs. */
  labId?: string;
  /** Where the VM runs: its own worker thread (default) or the main thread. */
  thread?: VmThreadPlacement;
}

export type VmThreadPlacement = 'main' | 'worker';

export type LaunchGuest = (launch: GuestLaunch) => Promise<LabGuest>;

/** The default: a real guest on v86 in its own worker thread, or on the main thread (loaded only when a VM is first started). */
export const launchVirtualMachine: LaunchGuest = async (launch) => {
  const { defaultMac } = await import('../../emulator/default-mac.ts');
  const labId = launch.labId;
  const options = {
    name: launch.name,
    nics: labId ? launch.nics.map((nic, i) => ({ ...nic, mac: nic.mac ?? defaultMac(launch.name, i, labId) })) : launch.nics,
    hostname: launch.hostname,
    ...(launch.memoryMiB !== undefined ? { memoryMiB: launch.memoryMiB } : {}),
    ip: launch.ip,
    hosts: launch.hosts,
    template: launch.template,
    ...(launch.log ? { log: launch.log } : {}),
  };
  if ((launch.thread ?? 'worker') === 'worker') {
    const { startVmThread } = await import('../../emulator/worker/node-launch.ts');
    return startVmThread(options);
  }
  const { VirtualMachine } = await import('../../emulator/vm.ts');
  return VirtualMachine.start(options);
};
