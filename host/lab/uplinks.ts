// The Lab's side of an uplink (host/uplink/): the one external port, the VM
// MTU it asks for, and the lab id that keeps two labs' MACs apart.
//
// MTU: VXLAN adds 50 bytes (70 over IPv6), so on a 1500-byte underlay the
// inner MTU is 1450. The e1000 cannot announce an MTU and virtio-net's is read
// at probe, before a template is restored, so the lab sets it in the guest
// when it starts a VM (`ip link set dev ethN mtu M`, before the NICs join the
// switch), and reports it to the switch as NIC_UPDATED once they have.
//
// Lab id: VM MACs are made from the VM's name (emulator/vm.ts defaultMac), so
// two processes with a VM 'a' would give both the same MAC; the id salts them.
// Random per Lab unless given: `vmswitch lab --lab-id ID`, or labIdForFile()
// for a lab run from a file (its absolute path: the same file gives the same
// MACs on every run, two files differ).
import type { Switch } from '../switch.ts';
import { ExternalPort, type ExternalPortOptions } from '../uplink/external-port.ts';
import type { Uplink } from '../uplink/uplink.ts';
import type { LabGuest } from './guest.ts';
import { LabError } from './errors.ts';

export class LabUplinks {
  port: ExternalPort | undefined;
  uplink: Uplink | undefined;
  /** LabOptions.vmMtu. */
  vmMtu: number | null | undefined;

  constructor(private readonly sw: () => Switch) {}

  async attach(uplink: Uplink, options?: ExternalPortOptions): Promise<ExternalPort> {
    if (this.uplink) throw new LabError('uplink-exists', `the lab already has an uplink (${this.uplink.description}); a switch has one external port`);
    this.uplink = uplink;
    try {
      this.port = await ExternalPort.attach(this.sw(), uplink, options);
    } catch (error) {
      this.uplink = undefined;
      throw error;
    }
    return this.port;
  }

  /** The MTU VMs get at start, or undefined to leave the guest's own. */
  guestMtu(): number | undefined {
    if (this.vmMtu === null) return undefined;
    return this.vmMtu ?? this.uplink?.mtu;
  }

  /** Sets the MTU in a guest just started (before its NICs join the switch). */
  async personalise(name: string, guest: LabGuest): Promise<void> {
    const mtu = this.guestMtu();
    if (mtu === undefined || !guest.nics.length) return;
    const command = guest.nics.map((_, i) => `ip link set dev eth${i} mtu ${mtu}`).join(' && ');
    const result = await guest.exec(command, { timeoutMs: 20_000 });
    if (result.exitCode !== 0) throw new LabError('guest-mtu', `${name}: could not set the MTU to ${mtu}: ${result.output.trim()}`);
  }

  /** Runs the external port's stop order, then closes the uplink. */
  async close(): Promise<void> {
    await this.port?.detach();
    await this.uplink?.close();
  }
}

export function randomLabId(): string {
  const bytes = new Uint8Array(8);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The lab id for a lab run from a file: its absolute path (stable across runs of that file). */
export function labIdForFile(absolutePath: string): string {
  return `file:${absolutePath}`;
}
