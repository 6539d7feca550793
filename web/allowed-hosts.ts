// Which Host: headers `vmswitch web` answers. Against DNS rebinding: a page on
// an attacker's domain that re-points its name at 127.0.0.1 reaches this
// server as same-origin, but its requests still say `Host: attacker.example`.
// So only the names the server was bound for are answered: localhost and the
// loopback addresses, the address it is bound to (for a wildcard bind, any
// address of this machine's interfaces), and the names given with
// `--allow-host`. An IP address cannot be rebound, so those are safe to answer.
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];

/** The name part of a Host header, lower-case, IPv6 in brackets; undefined when malformed. */
export function hostName(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const value = header.trim().toLowerCase();
  const match = /^(\[[0-9a-f:.]+\]|[^:\[\]]+)(?::\d{1,5})?$/.exec(value);
  return match?.[1];
}

/** How an address appears in a Host header: IPv6 in brackets. */
function asHostName(address: string): string {
  return isIP(address) === 6 ? `[${address.toLowerCase()}]` : address.toLowerCase();
}

function isWildcard(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}

function interfaceNames(): Set<string> {
  const names = new Set<string>();
  for (const addresses of Object.values(networkInterfaces())) {
    for (const info of addresses ?? []) names.add(asHostName(info.address.split('%')[0]!));
  }
  return names;
}

/** A predicate over Host headers for a server bound to `bindAddress`. */
export function allowedHosts(bindAddress: string, extraNames: readonly string[] = []): (header: string | undefined) => boolean {
  const fixed = new Set([...LOOPBACK_NAMES, ...extraNames.map(asHostName)]);
  if (!isWildcard(bindAddress)) fixed.add(asHostName(bindAddress));
  return (header) => {
    const name = hostName(header);
    if (name === undefined) return false;
    if (fixed.has(name)) return true;
    // A wildcard bind is reached through any of the machine's addresses (they may change: read them now).
    return isWildcard(bindAddress) && isIP(name.replace(/^\[|\]$/g, '')) !== 0 && interfaceNames().has(name);
  };
}
