// A lab file VM's personalisation as guest shell commands. The runtime's
// vmswitch-config (guest-images/init) gives each NIC one address at boot or
// template restore; what the lab file says beyond that (more addresses, IPv6,
// gateways, routes, forwarding) is set here, by busybox `ip` in the guest, on
// every start (a restart comes from the template and has none of it).
import type { PlanVm } from './file/schema.ts';

export function isIpv6(cidr: string): boolean {
  return cidr.includes(':');
}

/** The address given at launch for each NIC (its first IPv4 one; '-' for none): IPv6 goes through setupCommands with nodad. */
export function launchAddress(addresses: readonly string[]): string {
  return addresses.find((cidr) => !isIpv6(cidr)) ?? '-';
}

/**
 * Commands that finish a VM's set-up, in order. IPv6 addresses skip duplicate
 * address detection (accept_dad 0 on the NIC first; busybox ip has no
 * `nodad`): the lab file already refuses duplicates, and DAD would leave the
 * address unusable for a second or more after start.
 */
export function setupCommands(vm: PlanVm): string[] {
  const commands: string[] = [];
  if (vm.forwarding) {
    // /proc writes, not sysctl: no fork per setting in an emulated guest.
    commands.push('echo 1 > /proc/sys/net/ipv4/ip_forward', 'echo 1 > /proc/sys/net/ipv6/conf/all/forwarding');
  }
  for (const nic of vm.nics) {
    // A DHCP NIC's IPv4 address is its reservation: the server gives it.
    const first = nic.dhcp ? nic.addresses.find((cidr) => !isIpv6(cidr)) : launchAddress(nic.addresses);
    if (nic.addresses.some(isIpv6)) commands.push(`echo 0 > /proc/sys/net/ipv6/conf/${nic.name}/accept_dad`);
    for (const cidr of nic.addresses) {
      if (cidr === first) continue;
      commands.push(isIpv6(cidr) ? `ip -6 addr add ${cidr} dev ${nic.name}` : `ip addr add ${cidr} dev ${nic.name}`);
    }
  }
  for (const nic of vm.nics) {
    // -n: fail when no lease comes, -q: quit once bound; the image's default script applies the lease.
    if (nic.dhcp) commands.push(`udhcpc -i ${nic.name} -n -q -t 5 -T 2 >/dev/null`);
  }
  if (vm.gateway) commands.push(`ip route replace default via ${vm.gateway}`);
  if (vm.gateway6) commands.push(`ip -6 route replace default via ${vm.gateway6}`);
  for (const route of vm.routes) commands.push(`ip ${isIpv6(route.to) ? '-6 ' : ''}route replace ${route.to} via ${route.via}`);
  return commands;
}
