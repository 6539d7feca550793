import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Switch } from '../switch.ts';
import { DhcpGuard, GuardClass, RouterGuard, allowDhcpServerProperty, allowRouterProperty, guardClass } from './guards.ts';
import { MacLearningForwarder } from './mac-learning.ts';
import { BROADCAST, attachVm, ethFrame, ipv4Frame, ipv6Frame, mac, withTags } from '../testing.ts';
import type { Frame } from '../../emulator/net/frame.ts';

const V6A = Uint32Array.of(0xfe800000, 0, 0, 1);
const V6B = Uint32Array.of(0xff020000, 0, 0, 1);

function dhcpOffer(src: Uint8Array, vlan?: number): Frame {
  return ipv4Frame(BROADCAST, src, { src: '10.0.0.66', dst: '255.255.255.255', protocol: 17, sport: 67, dport: 68, ...(vlan !== undefined ? { vlan } : {}) });
}
function dhcpDiscover(src: Uint8Array): Frame {
  return ipv4Frame(BROADCAST, src, { src: '0.0.0.0', dst: '255.255.255.255', protocol: 17, sport: 68, dport: 67 });
}
function dhcp6Reply(src: Uint8Array, msgType = 7): Frame {
  const f = ipv6Frame(BROADCAST, src, { src: V6A, dst: V6B, protocol: 17, sport: 547, dport: 546 });
  // ipv6Frame leaves 8 bytes of upper layer: add the message type after the UDP header.
  const data = new Uint8Array(f.data.length + 4);
  data.set(f.data);
  data[14 + 40 + 8] = msgType;
  return { data };
}
/** ICMPv6 of a type (ipv6Frame's "source port" is the type and code). */
function icmp6(src: Uint8Array, type: number, extensions: Parameters<typeof ipv6Frame>[2]['extensions'] = []): Frame {
  return ipv6Frame(BROADCAST, src, { src: V6A, dst: V6B, protocol: 58, sport: type << 8, extensions });
}
function icmp4(src: Uint8Array, type: number): Frame {
  return ipv4Frame(BROADCAST, src, { src: '10.0.0.66', dst: '10.0.0.1', protocol: 1, sport: type << 8 });
}

test('guardClass finds DHCP server messages and router messages, v4 and v6, tagged or not, and never throws', () => {
  const m = mac(1);
  assert.equal(guardClass(dhcpOffer(m).data), GuardClass.dhcp4Server);
  assert.equal(guardClass(dhcpOffer(m, 10).data), GuardClass.dhcp4Server);
  assert.equal(guardClass(withTags(dhcpOffer(m), [[0x88a8, 5], [0x8100, 10]]).data), GuardClass.dhcp4Server);
  assert.equal(guardClass(dhcpDiscover(m).data), GuardClass.none);
  assert.equal(guardClass(dhcp6Reply(m).data), GuardClass.dhcp6Server);
  assert.equal(guardClass(dhcp6Reply(m, 1).data), GuardClass.none, 'a client Solicit');
  assert.equal(guardClass(icmp6(m, 134).data), GuardClass.router6);
  assert.equal(guardClass(icmp6(m, 137).data), GuardClass.router6);
  assert.equal(guardClass(icmp6(m, 135).data), GuardClass.none, 'neighbour solicitation');
  assert.equal(guardClass(icmp6(m, 134, [{ type: 0 }, { type: 60 }, { type: 44, offset: 0, more: true }]).data), GuardClass.router6);
  assert.equal(guardClass(icmp6(m, 134, [{ type: 44, offset: 8 }]).data), GuardClass.none, 'a later fragment');
  assert.equal(guardClass(icmp4(m, 5).data), GuardClass.router4);
  assert.equal(guardClass(icmp4(m, 9).data), GuardClass.router4);
  assert.equal(guardClass(icmp4(m, 8).data), GuardClass.none);
  // The RA hidden behind a chain cut short (RFC 7113).
  const hidden = icmp6(m, 134, [{ type: 0 }, { type: 60 }]);
  assert.equal(guardClass(hidden.data.subarray(0, 14 + 40 + 10)), GuardClass.unparsable6);
  for (let n = 0; n < 200; n++) guardClass(hidden.data.subarray(0, n));
});

async function guardedLab() {
  const sw = new Switch({ extensions: [new DhcpGuard(), new RouterGuard(), new MacLearningForwarder()] });
  const rogue = await attachVm(sw, 1);
  const client = await attachVm(sw, 2);
  const server = await attachVm(sw, 3);
  await sw.addPortProperty(server.portId, allowDhcpServerProperty());
  await sw.addPortProperty(server.portId, allowRouterProperty());
  return { sw, rogue, client, server };
}

test('DHCP guard: offers from a VM port are dropped, from an allowed port they pass; client messages always pass', async () => {
  const { sw, rogue, client, server } = await guardedLab();
  sw.ingress(rogue.portId, 0, [dhcpOffer(rogue.mac), dhcp6Reply(rogue.mac)]);
  assert.equal(client.sink.frames.length, 0);
  assert.equal(sw.counters(rogue.portId).drops['dhcp-guard'], 2);
  sw.ingress(server.portId, 0, [dhcpOffer(server.mac), dhcp6Reply(server.mac)]);
  assert.equal(client.sink.frames.length, 2);
  sw.ingress(client.portId, 0, [dhcpDiscover(client.mac)]);
  assert.equal(rogue.sink.frames.length, 3, 'the discover reaches every port (plus the allowed offers)');
  const guard = sw.extension('dhcp-guard') as DhcpGuard;
  assert.deepEqual(guard.counters(), { dropped: { 'dhcp-guard': 2 }, allowed: 2 });
  // Taking the permission away guards the port again; giving it by update works too.
  await sw.updatePortProperty(server.portId, allowDhcpServerProperty(false));
  sw.ingress(server.portId, 0, [dhcpOffer(server.mac)]);
  assert.equal(sw.counters(server.portId).drops['dhcp-guard'], 1);
  await sw.deletePortProperty(server.portId, allowDhcpServerProperty());
  await sw.addPortProperty(rogue.portId, allowDhcpServerProperty(true));
  sw.ingress(rogue.portId, 0, [dhcpOffer(rogue.mac)]);
  assert.equal(sw.counters(rogue.portId).drops['dhcp-guard'], 2, 'unchanged: now allowed');
});

test('DHCP guard on a VLAN trunk: tagged offers are caught too', async () => {
  const { sw, rogue, client } = await guardedLab();
  await sw.addPortProperty(rogue.portId, { type: 'vlan', mode: 'trunk', allowed: [10] });
  await sw.addPortProperty(client.portId, { type: 'vlan', mode: 'access', vlanId: 10 });
  sw.ingress(rogue.portId, 0, [dhcpOffer(rogue.mac, 10)]);
  assert.equal(client.sink.frames.length, 0);
  assert.equal(sw.counters(rogue.portId).drops['dhcp-guard'], 1);
});

test('router guard: RAs, redirects (v4 and v6) and hidden RAs from VM ports are dropped; an allowed router passes', async () => {
  const { sw, rogue, client, server } = await guardedLab();
  const hidden = icmp6(rogue.mac, 134, [{ type: 0 }, { type: 60 }]);
  sw.ingress(rogue.portId, 0, [icmp6(rogue.mac, 134), icmp6(rogue.mac, 137), icmp4(rogue.mac, 5), icmp6(rogue.mac, 135), { data: hidden.data.slice(0, 14 + 40 + 10) }]);
  assert.equal(client.sink.frames.length, 1, 'only the neighbour solicitation');
  assert.equal(sw.counters(rogue.portId).drops['router-guard'], 3);
  assert.equal(sw.counters(rogue.portId).drops['guard-unparsable-ipv6'], 1, 'dropped once (by the first guard)');
  sw.ingress(server.portId, 0, [icmp6(server.mac, 134), icmp4(server.mac, 5)]);
  assert.equal(client.sink.frames.length, 3);
});

test('guards leave link and uplink ports alone (generic, external, internal), and veto a non-boolean permission', async () => {
  const { sw, client } = await guardedLab();
  const link = await sw.createPort({ type: 'generic', name: 'link:wan' });
  await sw.createNic(link.id, { type: 'synthetic', mac: mac(9), sink: { deliver() {} } });
  await sw.connectNic(link.id, 0);
  sw.ingress(link.id, 0, [dhcpOffer(mac(9)), icmp6(mac(9), 134)]);
  assert.equal(client.sink.frames.length, 2);
  await assert.rejects(sw.addPortProperty(client.portId, { type: 'custom', name: 'allow-dhcp-server', value: 'yes' }), /vetoed|allow-dhcp-server/);
});

test('a permission given at PORT_CREATE, or before the guard is added, is honoured', async () => {
  const sw = new Switch({ extensions: [new MacLearningForwarder()] });
  const early = await sw.createPort({ type: 'synthetic', properties: [allowDhcpServerProperty()] });
  const guard = new DhcpGuard();
  sw.addExtension(guard);
  assert.equal(guard.allows(early.id), true);
  const late = await sw.createPort({ type: 'emulated', properties: [allowDhcpServerProperty()] });
  assert.equal(guard.allows(late.id), true);
  await sw.stopPort(late.id);
  assert.equal(guard.allows(late.id), false);
});
