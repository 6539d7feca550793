// What the Lab needs of a running VM and of the thing that starts one. The
// Node runtime's VirtualMachine (emulator/vm.ts) satisfies LabGuest as is; the
// Lab's unit tests pass scripted guests, so host/lab itself never loads v86.
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
  /** Settles when the VM has stopped; reason 'poweroff' or 'reboot' when the guest ended itself. */
  readonly ended?: Promise<{ reason: string }>;
  exec(command: string, opts?: { timeoutMs?: number }): Promise<GuestExecResult>;
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
}

export type LaunchGuest = (launch: GuestLaunch) => Promise<LabGuest>;

/** The default: a real guest on v86 (loaded only when a VM is first started). */
export const launchVirtualMachine: LaunchGuest = async (launch) => {
  const { VirtualMachine } = await import('../../emulator/vm.ts');
  return VirtualMachine.start({
    name: launch.name,
    nics: launch.nics,
    hostname: launch.hostname,
    ...(launch.memoryMiB !== undefined ? { memoryMiB: launch.memoryMiB } : {}),
    ip: launch.ip,
    hosts: launch.hosts,
    template: launch.template,
    ...(launch.log ? { log: launch.log } : {}),
  });
};
