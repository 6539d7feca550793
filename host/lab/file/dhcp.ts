// DHCP and the guards in a lab file. A switch may run a DHCP server
// (host/extensions/dhcp-server.ts) and Hyper-V's DHCP and router guards
// (host/extensions/guards.ts); a NIC may get its IPv4 address by DHCP (the
// guest runs udhcpc at start; its IPv4 address in `addresses`, if any, is
// its reservation, so it needs a `mac`) and may be allowed past the guards:
//
//   switches:
//     lan:
//       dhcp: { server: 10.0.5.2/24, gateway: 10.0.5.1, dns: [10.0.5.1], leaseSeconds: 600,
//               pool: { from: 10.0.5.100, to: 10.0.5.150 } }
//       guards: { dhcp: true, router: true }
//   vms:
//     c: { nics: [{ model: e1000, switch: lan, dhcp: true, mac: 52:54:00:00:05:0c, addresses: [10.0.5.20/24] }] }
//     r: { nics: [{ model: e1000, switch: lan, allow: [dhcp-server, router], addresses: [10.0.5.2/24] }] }
import { DhcpConfigError, DhcpServerExtension } from '../../extensions/dhcp-server.ts';
import type { Field, Reader } from './reader.ts';
import { formatCidr, networkOf, parseCidr } from './address.ts';
import type { PlanDhcp, PlanNic, PlanSwitch } from './schema.ts';

export const GUARD_EXCEPTIONS = ['dhcp-server', 'router'] as const;
const MAX_DNS = 4;

function ipv4(r: Reader, at: Field, what: string): string | undefined {
  const text = r.string(at, what, 64);
  if (text === undefined) return undefined;
  const cidr = parseCidr(text);
  if (typeof cidr === 'string' || cidr.family !== 4 || text.includes('/')) return r.error(at, 'bad-address', `'${text}' is not an IPv4 address`), undefined;
  return text;
}

/** A switch's `dhcp`; reservations are added from its NICs once they are read (checkDhcp). */
export function readDhcp(r: Reader, at: Field): PlanDhcp | undefined {
  const f = r.fields(at, ['server', 'gateway', 'dns', 'leaseSeconds', 'pool'] as const, ['server']);
  if (!f || !r.present(f.server)) return undefined;
  const text = r.string(f.server, "the server's address in CIDR form", 64);
  if (text === undefined) return undefined;
  const cidr = parseCidr(text);
  if (typeof cidr === 'string' || cidr.family !== 4 || !text.includes('/')) {
    r.error(f.server, 'bad-address', `'${text}' is not an IPv4 address with its prefix (e.g. 10.0.5.1/24)`);
    return undefined;
  }
  const dhcp: PlanDhcp = { serverIp: text.split('/')[0]!, subnet: formatCidr(networkOf(cidr)), gateway: null, dns: [], leaseSeconds: null, pool: null, reservations: [] };
  if (r.present(f.gateway)) dhcp.gateway = ipv4(r, f.gateway, 'an IPv4 address') ?? null;
  if (r.present(f.dns)) for (const item of r.list(f.dns, 'DNS servers', MAX_DNS) ?? []) {
    const ip = ipv4(r, item, 'an IPv4 address');
    if (ip) dhcp.dns.push(ip);
  }
  if (r.present(f.leaseSeconds)) dhcp.leaseSeconds = r.int(f.leaseSeconds, 60, 7 * 86_400, 'seconds') ?? null;
  if (r.present(f.pool)) {
    const p = r.fields(f.pool, ['from', 'to'] as const, ['from', 'to']);
    const from = p && r.present(p.from) ? ipv4(r, p.from, 'an IPv4 address') : undefined;
    const to = p && r.present(p.to) ? ipv4(r, p.to, 'an IPv4 address') : undefined;
    if (from && to) dhcp.pool = { from, to };
  }
  return dhcp;
}

export function readGuards(r: Reader, at: Field): { dhcp: boolean; router: boolean } | undefined {
  const f = r.fields(at, ['dhcp', 'router'] as const);
  if (!f) return undefined;
  return { dhcp: r.present(f.dhcp) ? (r.bool(f.dhcp) ?? false) : false, router: r.present(f.router) ? (r.bool(f.router) ?? false) : false };
}

/** A NIC's `dhcp` and `allow` fields, set on the plan when given. */
export function readNicDhcp(r: Reader, f: { dhcp: Field; allow: Field; mac: Field }, nic: PlanNic, sw: PlanSwitch | undefined): boolean {
  let ok = true;
  if (r.present(f.dhcp) && r.bool(f.dhcp) === true) {
    if (sw && !sw.dhcp) {
      r.error(f.dhcp, 'bad-value', `switch '${sw.name}' has no DHCP server (give it dhcp: { server: ... })`);
      ok = false;
    }
    const v4 = nic.addresses.filter((a) => !a.includes(':'));
    if (v4.length > 1) {
      r.error(f.dhcp, 'bad-value', 'a DHCP NIC gets one IPv4 address: list at most one (its reservation)');
      ok = false;
    }
    if (v4.length === 1 && nic.mac === null) {
      r.error(f.dhcp, 'missing-field', `the reservation ${v4[0]} needs the NIC's 'mac'`);
      ok = false;
    }
    nic.dhcp = true;
  }
  if (r.present(f.allow)) {
    const allow: (typeof GUARD_EXCEPTIONS)[number][] = [];
    for (const item of r.list(f.allow, 'guard exceptions', GUARD_EXCEPTIONS.length) ?? []) {
      const value = r.choice(item, GUARD_EXCEPTIONS);
      if (value && !allow.includes(value)) allow.push(value);
    }
    if (allow.length) nic.allow = allow;
  }
  return ok;
}

/** Once the NICs are read: each switch's reservations, and the whole server setting checked by the extension itself. */
export function checkDhcp(r: Reader, sw: PlanSwitch, at: Field, nics: readonly PlanNic[]): void {
  const dhcp = sw.dhcp;
  if (!dhcp) return;
  for (const nic of nics) {
    if (nic.switch !== sw.name || !nic.dhcp || nic.mac === null) continue;
    const ip = nic.addresses.find((a) => !a.includes(':'));
    if (ip) dhcp.reservations.push({ mac: nic.mac, ip: ip.split('/')[0]! });
  }
  try {
    new DhcpServerExtension(dhcpServerOptions(dhcp));
  } catch (error) {
    if (!(error instanceof DhcpConfigError)) throw error;
    r.error(at, 'bad-value', `dhcp: ${error.message}`);
  }
}

/** The DhcpServerExtension options of a plan's DHCP setting. */
export function dhcpServerOptions(dhcp: PlanDhcp): ConstructorParameters<typeof DhcpServerExtension>[0] {
  return {
    serverIp: dhcp.serverIp,
    subnet: dhcp.subnet,
    reservations: dhcp.reservations.map((x) => ({ ...x })),
    ...(dhcp.gateway ? { gateway: dhcp.gateway } : {}),
    ...(dhcp.dns.length ? { dns: [...dhcp.dns] } : {}),
    ...(dhcp.leaseSeconds !== null ? { leaseSeconds: dhcp.leaseSeconds } : {}),
    ...(dhcp.pool ? { pool: { ...dhcp.pool } } : {}),
  };
}
