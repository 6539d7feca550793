// A switch's `uplinks` in a lab file: its external port's transport.
//
//   switches:
//     lan1:
//       uplinks:
//         - type: vxlan          # the only type so far
//           vni: 42              # 0..16777215
//           local: 127.0.0.1     # optional (default 127.0.0.1); the address the socket binds
//           port: 4789           # optional (default 4789); the local UDP port
//           peers: [127.0.0.2:4789, "[::1]:4789"]   # ADDRESS:PORT, IPv6 in brackets; the allowlist
//           mtu: 1450            # optional: the inner MTU (default 1450, 1430 over IPv6)
//
// A switch has one external NIC (host/switch.ts), so at most one uplink.
import type { Field, Reader } from './reader.ts';
import { VXLAN_DEFAULT_PORT, VxlanConfigError, canonicalAddress, checkVxlanConfig, formatEndpoint, parseUdpEndpoint, type VxlanConfig } from '../../uplink/vxlan.ts';

export type PlanUplink = { type: 'vxlan' } & VxlanConfig;

const MAX_PEERS = 64;

export function readUplinks(r: Reader, at: Field): PlanUplink[] {
  if (!r.present(at)) return [];
  const items = r.list(at, 'uplinks', 1);
  if (!items) return [];
  const out: PlanUplink[] = [];
  for (const item of items) {
    const f = r.fields(item, ['type', 'vni', 'local', 'port', 'peers', 'mtu'] as const, ['type', 'vni', 'peers']);
    if (!f) continue;
    const type = r.string(f.type, "'vxlan'", 20);
    if (type !== undefined && type !== 'vxlan') r.error(f.type, 'bad-value', `unknown uplink type '${type}' (expected vxlan)`);
    const vni = r.int(f.vni, 0, 0xffffff, 'a VNI');
    const localText = r.present(f.local) ? r.string(f.local, 'an IP address', 100) : '127.0.0.1';
    const local = localText === undefined ? undefined : canonicalAddress(localText);
    if (localText !== undefined && !local) r.error(f.local, 'bad-address', `'${localText}' is not an IPv4 or IPv6 address`);
    const port = r.present(f.port) ? r.int(f.port, 1, 65535, 'a UDP port') : VXLAN_DEFAULT_PORT;
    const mtu = r.present(f.mtu) ? r.int(f.mtu, 68, 65000, 'an MTU') : undefined;
    const peers = [];
    for (const peerAt of r.list(f.peers, 'peers as ADDRESS:PORT', MAX_PEERS) ?? []) {
      const text = r.string(peerAt, 'a peer as ADDRESS:PORT', 100);
      if (text === undefined) continue;
      try {
        peers.push(parseUdpEndpoint(text, 'peer'));
      } catch (error) {
        r.error(peerAt, 'bad-address', (error as Error).message);
      }
    }
    if (type !== 'vxlan' || vni === undefined || !local || port === undefined || (r.present(f.mtu) && mtu === undefined)) continue;
    const config: VxlanConfig = { vni, local: { ...local, port }, peers, ...(mtu !== undefined ? { mtu } : {}) };
    try {
      checkVxlanConfig(config, 'uplink');
    } catch (error) {
      if (!(error instanceof VxlanConfigError)) throw error;
      r.error(item, 'bad-value', error.message);
      continue;
    }
    out.push({ type: 'vxlan', ...config });
  }
  return out;
}

/** The uplink as the lab file writes it (write.ts). */
export function uplinkDoc(uplink: PlanUplink): Record<string, unknown> {
  return {
    type: uplink.type,
    vni: uplink.vni,
    local: uplink.local.address,
    port: uplink.local.port,
    peers: uplink.peers.map(formatEndpoint),
    ...(uplink.mtu !== undefined ? { mtu: uplink.mtu } : {}),
  };
}
