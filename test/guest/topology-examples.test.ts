// Every lab file in examples/ runs with real guests: it starts, its
// commands succeed, and a ping crosses it. Some examples check more: the
// trunk keeps VLAN 10 and 20 apart, the NAT router masquerades (the server
// has no route back), the DHCP switch hands out the reserved address and its
// guard drops a rogue udhcpd's offers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { parseLabFile } from '../../host/lab/file/index.ts';
import { LabTopology } from '../../host/lab/topology.ts';

const dir = new URL('../../examples/', import.meta.url);

/** The ping each example must carry: from VM, to address (across its switches, links or router). */
const PINGS: Record<string, [string, string]> = {
  'two-lans-router.yaml': ['a', '10.0.2.10'],
  'two-lans-router.json': ['b', '10.0.1.10'],
  'trunk-two-vlans.yaml': ['red1', '192.168.10.2'],
  'lossy-wan.yaml': ['alice', '172.16.0.2'],
  'nat-router.yaml': ['host', '203.0.113.20'],
  'dhcp-guard.yaml': ['client', '10.0.5.66'],
};

/** Extra checks per example, with the lab running and its ping done. */
const MORE: Record<string, (topo: LabTopology) => Promise<void>> = {
  'trunk-two-vlans.yaml': async (topo) => {
    // tcpdump on every other VM while red1 ARPs and pings red2 across the trunk: red2 sees VLAN 10's
    // frames (the control: the capture works), blue1 and blue2 on VLAN 20 none.
    const watchers = ['red2', 'blue1', 'blue2'];
    for (const vm of watchers) await topo.lab.exec(vm, 'tcpdump -n -l -i eth0 net 192.168.10.0/24 > /tmp/seen 2>/dev/null & sleep 2');
    const out = await topo.lab.exec('red1', 'ip neigh flush dev eth0; ping -c 3 -W 5 192.168.10.2', { timeoutMs: 60_000 });
    assert.match(out.output, /3 packets received/);
    const seen: Record<string, string> = {};
    for (const vm of watchers) seen[vm] = (await topo.lab.exec(vm, 'sleep 1; killall tcpdump 2>/dev/null; sleep 1; cat /tmp/seen')).output;
    assert.match(seen.red2!, /192\.168\.10\.1 > 192\.168\.10\.2: ICMP echo request/, 'the capture on VLAN 10 works');
    assert.equal(seen.blue1!.trim(), '', 'no VLAN 10 frame reached blue1');
    assert.equal(seen.blue2!.trim(), '', 'no VLAN 10 frame crossed the trunk to blue2');
    const blue = await topo.lab.exec('blue1', 'ping -c 2 -W 5 192.168.20.2', { timeoutMs: 60_000 });
    assert.match(blue.output, /2 packets received/, 'VLAN 20 crosses the trunk too');
  },
  'nat-router.yaml': async (topo) => {
    assert.doesNotMatch((await topo.lab.exec('server', 'ip route')).output, /192\.168\.1\.|default/, 'the server has no route back');
    const rules = await topo.lab.exec('router', 'nft list ruleset');
    assert.match(rules.output, /masquerade/);
  },
  'dhcp-guard.yaml': async (topo) => {
    const { lab } = topo;
    const addr = await lab.exec('client', 'ip -4 addr show dev eth0; ip route');
    assert.match(addr.output, /inet 10\.0\.5\.20\/24/, 'the reserved address, from the switch');
    assert.match(addr.output, /default via 10\.0\.5\.1 dev eth0/, 'and the gateway');
    // The rogue serves 10.0.5.200-210; the client asks again and records every lease it is given.
    await lab.exec('rogue', "printf 'start 10.0.5.200\\nend 10.0.5.210\\ninterface eth0\\nlease_file /tmp/udhcpd.leases\\nopt router 10.0.5.66\\n' > /tmp/udhcpd.conf && touch /tmp/udhcpd.leases && udhcpd /tmp/udhcpd.conf && sleep 1");
    const guard = topo.switches.get('lan')!.dhcpGuard!;
    const droppedBefore = Object.values(guard.counters().dropped).reduce((a, b) => a + b, 0);
    await lab.exec('client', "printf '#!/bin/sh\\n[ \"$1\" = bound ] && echo \"$ip $serverid\" >> /tmp/leases\\nexit 0\\n' > /tmp/record.sh && chmod +x /tmp/record.sh");
    for (let i = 0; i < 3; i++) await lab.exec('client', 'udhcpc -i eth0 -n -q -t 3 -T 2 -s /tmp/record.sh >/dev/null 2>&1; true', { timeoutMs: 60_000 });
    const leases = (await lab.exec('client', 'cat /tmp/leases')).output.trim().split('\n');
    assert.equal(leases.length, 3, leases.join(' / '));
    for (const lease of leases) assert.equal(lease.trim(), '10.0.5.20 10.0.5.2', 'every lease from the switch, none from the rogue');
    // The switch's server answers at once and udhcpc -q quits on its ACK, so the rogue's (later) offer may not
    // have been sent yet: ask again until the rogue has answered once (a loaded machine makes it slow).
    const droppedSince = () => Object.values(guard.counters().dropped).reduce((a, b) => a + b, 0) - droppedBefore;
    for (let i = 0; i < 10 && droppedSince() === 0; i++) {
      await lab.exec('client', 'udhcpc -i eth0 -n -q -t 3 -T 2 -s /tmp/record.sh >/dev/null 2>&1; sleep 2; true', { timeoutMs: 60_000 });
    }
    assert.ok(droppedSince() > 0, 'the rogue did answer, and the guard dropped its messages');
    const later = (await lab.exec('client', 'cat /tmp/leases')).output.trim().split('\n');
    for (const lease of later) assert.equal(lease.trim(), '10.0.5.20 10.0.5.2', 'every lease from the switch, none from the rogue');
  },
};

for (const file of readdirSync(dir).filter((f) => /\.(ya?ml|json)$/.test(f)).sort()) {
  test(`examples/${file} runs: commands succeed and a ping crosses it`, async () => {
    const ping = PINGS[file];
    assert.ok(ping, `add a ping for examples/${file} to PINGS`);
    const topo = await LabTopology.create(parseLabFile(readFileSync(new URL(file, dir), 'utf8'), { file }), { startConcurrency: 1 });
    try {
      await topo.start();
      const results = await topo.runCommands({ timeoutMs: 120_000 });
      for (const result of results) assert.equal(result.exitCode, 0, `${result.vm}$ ${result.command}\n${result.output}`);
      const out = await topo.lab.exec(ping[0], `ping -c 3 -W 5 ${ping[1]}`, { timeoutMs: 60_000 });
      assert.match(out.output, /[1-3] packets received/, out.output);
      await MORE[file]?.(topo);
    } finally {
      await topo.close();
    }
  });
}
