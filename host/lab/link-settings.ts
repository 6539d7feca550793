// The lab's route for MTU and MAC changes made inside a guest: read each NIC's
// settings from the guest's sysfs and report what the switch does not know yet
// as NIC_UPDATED (a MAC only where port security allows the guest one). Why ask the guest: neither device model can see an MTU change
// (Linux keeps the MTU in the driver; the e1000 only learns "long packets on"
// from RCTL.LPE, virtio-net nothing). MACs the device did see (e1000 RAL,
// virtio control queue) already reach the switch through the attachment.
import { formatMac, parseMac } from '../../emulator/net/frame.ts';
import type { Switch } from '../switch.ts';
import { isValidMtu } from '../validate.ts';
import type { LabGuest } from './guest.ts';

/** Commands that can change a NIC's MTU or MAC (or run something that might). */
export function mayChangeLinkSettings(command: string): boolean {
  return /\b(ip|ifconfig|mtu|address|hw|ether|modprobe|rmmod|insmod|vconfig|vmswitch-config|sh|bash|source)\b|\.sh\b|^\s*\./m.test(command);
}

/**
 * NIC_UPDATED for every MTU or MAC the guest changed that the switch does not
 * know yet. `portIds[i]` is the port of the guest's eth<i> on `switches[i]`. One exec over the
 * serial console for all NICs (about 0.5 s), so callers run it only when a
 * command may have changed something.
 */
export async function syncLinkSettings(switches: readonly Switch[], guest: LabGuest, portIds: readonly number[]): Promise<void> {
  if (!portIds.length) return;
  const files = portIds.map((_, i) => `/sys/class/net/eth${i}/mtu /sys/class/net/eth${i}/address`).join(' ');
  const result = await guest.exec(`cat ${files}`, { timeoutMs: 10_000 });
  if (result.exitCode !== 0) return;
  const lines = result.output.split('\n').map((line) => line.trim());
  for (const [i, portId] of portIds.entries()) {
    const mtu = Number(lines[i * 2]);
    const macText = lines[i * 2 + 1] ?? '';
    const sw = switches[i];
    if (!sw) continue;
    const known = sw.nic(portId, 0);
    if (!known || known.state === 'deleted') continue;
    if (isValidMtu(mtu) && mtu !== known.mtu) await sw.updateNic(portId, 0, { mtu });
    // A MAC the device saw itself (e1000 RAL, virtio control queue) is reported by the attachment. Either way
    // it is the guest's choice, so port security decides (Switch.guestMacChange), never a plain NIC_UPDATED.
    if (/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(macText) && macText !== formatMac(known.mac) && macText !== formatMac(guest.nics[i]!.mac)) {
      await sw.guestMacChange(portId, 0, parseMac(macText));
    }
  }
}
