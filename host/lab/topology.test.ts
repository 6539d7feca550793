// The lab-file runner with scripted guests: switches and links from a plan,
// frames crossing both stacks, trunks keeping VLANs apart, the guest set-up
// each VM gets, port-named settings rebound on restart, impairments handed to
// the impairment extension, and every example file building.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { parseMac } from '../../emulator/net/frame.ts';
import { ethFrame, BROADCAST } from '../testing.ts';
import { parseLabFile } from './file/index.ts';
import type { Impairment } from './file/index.ts';
import { LabTopology, type PortImpairer } from './topology.ts';
import { scriptedLaunch } from './testing.ts';
import { setupCommands } from './guest-setup.ts';
import { FakeClock } from '../clock.ts';
import type { LabOidEvent } from './lab.ts';

const settle = () => new Promise((resolve) => setTimeout(resolve, 5));

const ROUTED = `
switches: { lan1: {}, lan2: {} }
links:
  wan: { between: [lan1, lan2] }
vms:
  a:
    nics: [{ model: e1000, switch: lan1, mac: 52:54:00:00:00:0a, addresses: [10.0.1.10/24, 2001:db8:1::10/64] }]
    gateway: 10.0.1.1
    gateway6: 2001:db8:1::1
  b:
    memory: 160
    forwarding: true
    nics:
      - { model: virtio, switch: lan2, mac: 52:54:00:00:00:0b, addresses: [2001:db8:2::1/64, 10.0.2.1/24, 10.0.3.1/24] }
      - { model: e1000, switch: lan1, addresses: [10.0.1.1/24] }
    routes: [{ to: 10.9.0.0/16, via: 10.0.2.254 }]
    commands: [ "ping -c 1 a", "echo second" ]
`;

test('topology: switches, a link as two generic ports, VM NICs on their switches, labelled OIDs', async () => {
  const { launch, guests } = scriptedLaunch();
  const topo = await LabTopology.create(parseLabFile(ROUTED), { launch, connectTimeoutMs: 500 });
  const oids: LabOidEvent[] = [];
  topo.lab.on('oid', (e) => oids.push(e));
  try {
    const lan1 = topo.switches.get('lan1')!.switch;
    const lan2 = topo.switches.get('lan2')!.switch;
    const wan = topo.links.get('wan')!;
    for (const [sw, end] of [[lan1, wan.ends[0]!], [lan2, wan.ends[1]!]] as const) {
      const port = sw.port(end.portId)!;
      assert.equal(port.type, 'generic');
      assert.equal(port.name, 'link:wan');
      assert.equal(sw.nic(end.portId, 0)?.state, 'connected');
    }
    await topo.start();
    assert.deepEqual(guests.get('b')!.launch.ip, ['10.0.2.1/24', '10.0.1.1/24'], 'the first IPv4 address of each NIC at launch');
    assert.equal(guests.get('b')!.launch.memoryMiB, 160);
    assert.equal(guests.get('a')!.launch.nics[0]!.mac, '52:54:00:00:00:0a');
    const b = topo.lab.vm('b')!;
    assert.deepEqual(b.portSwitches.map((sw) => sw.name), ['lan2', 'lan1']);
    assert.ok(oids.some((e) => e.vm === 'b' && e.nic === 'eth1' && e.switch === 'lan1' && e.oid === 'OID_SWITCH_NIC_CONNECT'));
    assert.ok(oids.some((e) => e.vm === 'b' && e.nic === 'eth0' && e.switch === 'lan2' && e.oid === 'OID_SWITCH_NIC_CONNECT'));
    // The set-up ran once per start, in one exec.
    assert.deepEqual(guests.get('b')!.commands, [setupCommands(topo.plan.vms[1]!).join(' && ')]);
    const results = await topo.runCommands();
    assert.deepEqual(results.map((r) => `${r.vm}:${r.command}:${r.exitCode}`), ['b:ping -c 1 a:0', 'b:echo second:0']);
    const rows = topo.lab.ports();
    assert.deepEqual(rows.map((r) => `${r.switch}:${r.vm}.${r.nic}`).sort(), ['lan1:a.eth0', 'lan1:b.eth1', 'lan2:b.eth0']);
  } finally {
    await topo.close();
  }
  const lan1 = topo.switches.get('lan1')!.switch;
  assert.equal(lan1.ports().length, 0, 'close unplugs the link and stops the VMs: no port left');
});

test('topology: guest set-up commands for addresses beyond the first, gateways, routes, forwarding', () => {
  const plan = parseLabFile(ROUTED);
  assert.deepEqual(setupCommands(plan.vms[1]!), [
    'echo 1 > /proc/sys/net/ipv4/ip_forward',
    'echo 1 > /proc/sys/net/ipv6/conf/all/forwarding',
    'echo 0 > /proc/sys/net/ipv6/conf/eth0/accept_dad',
    'ip -6 addr add 2001:db8:2::1/64 dev eth0',
    'ip addr add 10.0.3.1/24 dev eth0',
    'ip route replace 10.9.0.0/16 via 10.0.2.254',
  ]);
  assert.deepEqual(setupCommands(plan.vms[0]!), [
    'echo 0 > /proc/sys/net/ipv6/conf/eth0/accept_dad',
    'ip -6 addr add 2001:db8:1::10/64 dev eth0',
    'ip route replace default via 10.0.1.1',
    'ip -6 route replace default via 2001:db8:1::1',
  ]);
});

test('topology: a frame crosses the link through both stacks, counted on each switch', async () => {
  const { launch, guests } = scriptedLaunch();
  const topo = await LabTopology.create(parseLabFile(ROUTED), { launch, connectTimeoutMs: 500 });
  try {
    await topo.start();
    const a = guests.get('a')!.nics[0]!;
    const b0 = guests.get('b')!.nics[0]!;
    const b1 = guests.get('b')!.nics[1]!;
    a.send(ethFrame(BROADCAST, a.mac, { seq: 1 }));
    await settle();
    assert.equal(b1.received.length, 1, 'same switch');
    assert.equal(b0.received.length, 1, 'across the link');
    // Unicast to b.eth0's MAC: the frame goes over the link only, once b0 has been learnt on lan2 and lan1 learns it over the link.
    b0.send(ethFrame(a.mac, b0.mac, { seq: 2 }));
    await settle();
    assert.equal(a.received.length, 1);
    a.send(ethFrame(parseMac('52:54:00:00:00:0b'), a.mac, { seq: 3 }));
    await settle();
    assert.equal(b0.received.length, 2);
    assert.equal(b1.received.length, 1, 'the unicast was not flooded to b.eth1');
    const wan = topo.links.get('wan')!;
    const lan1 = topo.switches.get('lan1')!.switch;
    const lan2 = topo.switches.get('lan2')!.switch;
    assert.equal(lan1.counters(wan.ends[0]!.portId).txPackets, 2, 'lan1 sent two frames over the link');
    assert.equal(lan2.counters(wan.ends[1]!.portId).rxPackets, 2, 'lan2 took them in at its end');
  } finally {
    await topo.close();
  }
});

const TRUNK = readFileSync(new URL('../../examples/trunk-two-vlans.yaml', import.meta.url), 'utf8');

test('topology: a trunk carries VLAN 10 and 20 between switches, each only to its own access ports', async () => {
  const { launch, guests } = scriptedLaunch();
  const topo = await LabTopology.create(parseLabFile(TRUNK), { launch, connectTimeoutMs: 500 });
  try {
    await topo.start();
    const nic = (vm: string) => guests.get(vm)!.nics[0]!;
    const trunk = topo.links.get('trunk')!;
    const sw1 = topo.switches.get('sw1')!.switch;
    assert.deepEqual(sw1.ports().find((p) => p.id === trunk.ends[0]!.portId)!.properties, [{ type: 'vlan', mode: 'trunk', allowed: [10, 20] }]);
    // Not IPv4 (0x88b5, local experimental): sw1's ACL reads IPv4 headers.
    nic('red1').send(ethFrame(BROADCAST, nic('red1').mac, { seq: 1, ethertype: 0x88b5 }));
    nic('blue1').send(ethFrame(BROADCAST, nic('blue1').mac, { seq: 2, ethertype: 0x88b5 }));
    await settle();
    assert.equal(nic('red2').received.length, 1);
    assert.equal(nic('blue2').received.length, 1);
    assert.equal(nic('blue1').received.length, 0, 'VLAN 10 stays off VLAN 20 on the same switch');
    const seqOf = (vm: string) => nic(vm).received.map((f) => f.data[17]);
    assert.deepEqual(seqOf('red2'), [1]);
    assert.deepEqual(seqOf('blue2'), [2]);
    assert.equal(nic('red2').received[0]!.data[12], 0x88, 'delivered untagged to the access port');
  } finally {
    await topo.close();
  }
});

test('topology: ACL rules naming ports are rebound when a VM restarts (a new port id)', async () => {
  const text = `
switches:
  s:
    acl: { defaultAction: allow, rules: [{ name: no-a, action: deny, from: [a.eth0] }] }
vms:
  a: { nics: [{ model: e1000, switch: s, addresses: [10.0.0.1/24] }] }
  b: { nics: [{ model: e1000, switch: s, addresses: [10.0.0.2/24] }] }
`;
  const { launch, guests } = scriptedLaunch();
  const topo = await LabTopology.create(parseLabFile(text), { launch, connectTimeoutMs: 500 });
  try {
    await topo.start();
    const send = async () => {
      const a = guests.get('a')!.nics[0]!;
      a.send(ethFrame(BROADCAST, a.mac));
      await settle();
      return guests.get('b')!.nics[0]!.received.length;
    };
    assert.equal(await send(), 0, 'denied');
    const firstPort = topo.lab.vm('a')!.portIds[0];
    await topo.lab.stop('a');
    await topo.lab.start('a');
    assert.notEqual(topo.lab.vm('a')!.portIds[0], firstPort);
    assert.equal(await send(), 0, 'still denied on the new port');
  } finally {
    await topo.close();
  }
});

test('topology: impairments go to the impairment extension (NIC directions; a link by sending switch), and change while running', async () => {
  const set: string[] = [];
  const impairer = (sw: { name: string }): PortImpairer => ({
    extension: { name: 'impairment', kind: 'filter' },
    set: (portId, value) => set.push(`${sw.name}:${portId}:${value.send?.delayMs ?? '-'}/${value.receive?.delayMs ?? '-'}`),
  });
  const text = readFileSync(new URL('../../examples/lossy-wan.yaml', import.meta.url), 'utf8');
  const { launch } = scriptedLaunch();
  const topo = await LabTopology.create(parseLabFile(text), { launch, connectTimeoutMs: 500, impairer });
  try {
    const wan = topo.links.get('wan')!;
    assert.deepEqual(set, [`site-a:${wan.ends[0]!.portId}:-/40`, `site-b:${wan.ends[1]!.portId}:-/40`]);
    set.length = 0;
    await topo.start();
    const bob = topo.lab.vm('bob')!.portIds[0]!;
    assert.ok(set.includes(`site-b:${bob}:-/0`), set.join(' '));
    set.length = 0;
    const slow: Impairment = { delayMs: 50, jitterMs: 0, lossPercent: 0, duplicatePercent: 0, reorderPercent: 0, rateBitsPerSecond: 0, limitFrames: 1000, down: false };
    topo.setImpairment({ link: 'wan' }, { 'site-b': slow });
    assert.deepEqual(set, [`site-a:${wan.ends[0]!.portId}:-/40`, `site-b:${wan.ends[1]!.portId}:-/50`]);
    set.length = 0;
    topo.setImpairment({ vm: 'alice', nic: 'eth0' }, { send: slow });
    assert.deepEqual(set, [`site-a:${topo.lab.vm('alice')!.portIds[0]}:50/-`]);
    assert.throws(() => topo.setImpairment({ link: 'nope' }, {}), /no link named 'nope'/);
  } finally {
    await topo.close();
  }
});

test('topology: every example builds and starts with scripted guests', async () => {
  const dir = new URL('../../examples/', import.meta.url);
  const files = readdirSync(dir).filter((f) => /\.(ya?ml|json)$/.test(f));
  assert.ok(files.length >= 4);
  for (const file of files) {
    const { launch, guests } = scriptedLaunch();
    const plan = parseLabFile(readFileSync(new URL(file, dir), 'utf8'), { file });
    const topo = await LabTopology.create(plan, { launch, connectTimeoutMs: 500 });
    try {
      await topo.start();
      assert.equal(guests.size, plan.vms.length, file);
      assert.equal(topo.links.size, plan.links.length, file);
    } finally {
      await topo.close();
    }
  }
});

test('topology: a failing set-up fails the start and leaves no port', async () => {
  const { launch } = scriptedLaunch((_vm, command) => (command.includes('ip route') ? { output: 'RTNETLINK answers: Network unreachable', exitCode: 2 } : { output: '', exitCode: 0 }));
  const topo = await LabTopology.create(parseLabFile(ROUTED), { launch, connectTimeoutMs: 500 });
  try {
    await assert.rejects(topo.start(), /set-up failed .*Network unreachable/);
    assert.equal(topo.switches.get('lan1')!.switch.ports().filter((p) => p.name !== 'link:wan').length, 0);
  } finally {
    await topo.close();
  }
});

test('topology: a link delay (the real impairment extension on the switch clock) holds frames until due, each way on its own', async () => {
  const clock = new FakeClock();
  const { launch, guests } = scriptedLaunch();
  const text = `
switches: { s1: {}, s2: {} }
links: { wan: { between: [s1, s2], impairment: { s1->s2: { delay: 50ms }, s2->s1: { delay: 20ms } } } }
vms:
  a: { nics: [{ model: e1000, switch: s1 }] }
  b: { nics: [{ model: e1000, switch: s2 }] }
`;
  const topo = await LabTopology.create(parseLabFile(text), { launch, connectTimeoutMs: 500, timers: clock });
  try {
    await topo.start();
    const a = guests.get('a')!.nics[0]!;
    const b = guests.get('b')!.nics[0]!;
    a.send(ethFrame(BROADCAST, a.mac, { ethertype: 0x88b5 }));
    await settle();
    clock.advance(49);
    await settle();
    assert.equal(b.received.length, 0, 'held by the 50 ms delay');
    clock.advance(1);
    await settle();
    assert.equal(b.received.length, 1);
    b.send(ethFrame(BROADCAST, b.mac, { ethertype: 0x88b5 }));
    await settle();
    clock.advance(20);
    await settle();
    assert.equal(a.received.length, 1, 's2 -> s1 takes 20 ms');
    topo.setImpairment({ link: 'wan' }, { s1: null });
    a.send(ethFrame(BROADCAST, a.mac, { ethertype: 0x88b5 }));
    await settle();
    assert.equal(b.received.length, 2, 'cleared while running: at once');
  } finally {
    await topo.close();
  }
});

test('topology: a DHCP server and guards on the switch, guard exceptions as port properties, udhcpc in the set-up', async () => {
  const text = `
switches:
  lan:
    dhcp: { server: 10.0.5.2/24, gateway: 10.0.5.1 }
    guards: { dhcp: true, router: true }
vms:
  c: { nics: [{ model: e1000, switch: lan, dhcp: true, mac: 52:54:00:00:05:0c, addresses: [10.0.5.20/24] }] }
  r: { nics: [{ model: virtio, switch: lan, allow: [dhcp-server], addresses: [10.0.5.2/24] }] }
`;
  const { launch, guests } = scriptedLaunch();
  const topo = await LabTopology.create(parseLabFile(text), { launch, connectTimeoutMs: 500 });
  try {
    await topo.start();
    const stack = topo.switches.get('lan')!;
    const names = stack.switch.extensions().map((e) => e.name);
    for (const name of ['dhcp-guard', 'router-guard']) assert.ok(names.includes(name), names.join(' '));
    assert.ok(stack.dhcpServer && names.includes(stack.dhcpServer.name));
    assert.deepEqual(guests.get('c')!.launch.ip, ['-'], 'a DHCP NIC has no static address');
    assert.deepEqual(guests.get('c')!.commands, ['udhcpc -i eth0 -n -q -t 5 -T 2 >/dev/null']);
    const rPort = topo.lab.vm('r')!.portIds[0]!;
    assert.equal(stack.dhcpGuard!.allows(rPort), true);
    assert.equal(stack.dhcpGuard!.allows(topo.lab.vm('c')!.portIds[0]!), false);
  } finally {
    await topo.close();
  }
});
