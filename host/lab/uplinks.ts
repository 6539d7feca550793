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

/** One external port per switch (a switch has one external NIC), each with its uplink. */
export class LabUplinks {
  private readonly bySwitch = new Map<Switch, { port: ExternalPort; uplink: Uplink }>();
  /** LabOptions.vmMtu. */
  vmMtu: number | null | undefined;

  async attach(sw: Switch, uplink: Uplink, options?: ExternalPortOptions): Promise<ExternalPort> {
    const existing = this.bySwitch.get(sw);
    if (existing) throw new LabError('uplink-exists', `switch ${sw.name} already has an uplink (${existing.uplink.description}); a switch has one external port`);
    const port = await ExternalPort.attach(sw, uplink, options);
    this.bySwitch.set(sw, { port, uplink });
    return port;
  }

  port(sw: Switch): ExternalPort | undefined {
    return this.bySwitch.get(sw)?.port;
  }

  /** The MTU a NIC on `sw` gets at start, or undefined to leave the guest's own. */
  guestMtu(sw: Switch): number | undefined {
    if (this.vmMtu === null) return undefined;
    return this.vmMtu ?? this.bySwitch.get(sw)?.uplink.mtu;
  }

  /** Sets the MTU in a guest just started (before its NICs join the switch): NIC i is on `switches[i]`. */
  async personalise(name: string, guest: LabGuest, switches: readonly Switch[]): Promise<boolean> {
    const commands: string[] = [];
    guest.nics.forEach((_, i) => {
      const sw = switches[i];
      const mtu = sw ? this.guestMtu(sw) : undefined;
      if (mtu !== undefined) commands.push(`ip link set dev eth${i} mtu ${mtu}`);
    });
    if (!commands.length) return false;
    const result = await guest.exec(commands.join(' && '), { timeoutMs: 20_000 });
    if (result.exitCode !== 0) throw new LabError('guest-mtu', `${name}: could not set the MTU: ${result.output.trim()}`);
    return true;
  }

  /** Runs each external port's stop order, then closes its uplink. */
  async close(): Promise<void> {
    const all = [...this.bySwitch.values()];
    this.bySwitch.clear();
    await Promise.all(all.map(async ({ port, uplink }) => {
      await port.detach();
      await uplink.close();
    }));
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
