// Two labs in two processes, each with one VM called 'vm' (the same name on
// purpose: the lab id keeps their MACs apart), joined by VXLAN over loopback.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { freeUdpPort } from '../../host/uplink/udp-testing.ts';
import { VxlanSide } from './vxlan-side.ts';

let a: VxlanSide;
let b: VxlanSide;


before(async () => {
  const [pa, pb] = [await freeUdpPort(), await freeUdpPort()];
  const vxlan = (local: number, peer: number) => ({ vni: 4242, local: { address: '127.0.0.1', port: local, family: 4 as const }, peers: [{ address: '127.0.0.1', port: peer, family: 4 as const }] });
  [a, b] = await Promise.all([
    VxlanSide.spawn({ vm: 'vm', model: 'virtio', ip: '10.0.0.11/24', vxlan: vxlan(pa, pb), labId: 'side-a' }),
    VxlanSide.spawn({ vm: 'vm', model: 'e1000', ip: '10.0.0.12/24', vxlan: vxlan(pb, pa), labId: 'side-b' }),
  ]);
});

after(async () => {
  await Promise.all([a?.close(), b?.close()]);
});

test('each side has its external port connected, the VMs have MTU 1450 and different MACs despite one name', async () => {
  const [sa, sb] = await Promise.all([a.state(), b.state()]);
  for (const s of [sa, sb]) {
    assert.deepEqual(s.oids.slice(0, 3), ['PORT_CREATE:1', 'NIC_CREATE:1', 'NIC_CONNECT:1'], 'the external port first');
    assert.equal(s.ports.find((p) => p.id === 1)?.type, 'external');
    assert.equal(s.mtu, 1450, 'NIC_UPDATED reported the guest MTU');
  }
  assert.notEqual(sa.mac, sb.mac);
  assert.match(await a.ok('cat /sys/class/net/eth0/mtu'), /^1450/m);
  assert.match(await b.ok('cat /sys/class/net/eth0/mtu'), /^1450/m);
});

test('ping both ways over VXLAN', async () => {
  assert.match(await a.ok('ping -c 3 -W 5 10.0.0.12'), /3 packets received/);
  assert.match(await b.ok('ping -c 3 -W 5 10.0.0.11'), /3 packets received/);
  const [sa, sb] = await Promise.all([a.state(), b.state()]);
  assert.ok(sa.counters.rxFrames >= 3 && sb.counters.rxFrames >= 3);
  assert.deepEqual(sa.uplinkDrops, {});
  assert.deepEqual(sb.uplinkDrops, {});
});

test('16 MiB over TCP from the virtio guest to the e1000 guest: the sha256 matches', async () => {
  await b.ok("rm -f /tmp/rx.sum; printf '#!/bin/sh\\nsha256sum > /tmp/rx.part && mv /tmp/rx.part /tmp/rx.sum\\n' > /tmp/rx.sh; chmod +x /tmp/rx.sh");
  await b.ok('(nc -l -p 5001 -e /tmp/rx.sh) >/dev/null 2>&1 &');
  await a.ok('dd if=/dev/urandom of=/tmp/tx.bin bs=1M count=16 2>/dev/null');
  const sent = (await a.ok('sha256sum < /tmp/tx.bin')).split(/\s/)[0]!;
  await a.ok('nc -w 3 10.0.0.12 5001 < /tmp/tx.bin', 300_000);
  let received = '';
  for (let i = 0; i < 60 && !/^[0-9a-f]{64}/.test(received); i++) {
    received = (await b.ok('cat /tmp/rx.sum 2>/dev/null || true')).trim();
    if (!received) await new Promise((r) => setTimeout(r, 1000));
  }
  assert.match(sent, /^[0-9a-f]{64}$/);
  assert.equal(received.split(/\s/)[0], sent);
  const sa = await a.state();
  // The virtio guest sends TSO frames: they left segmented to the uplink's MTU, none dropped.
  assert.deepEqual(sa.portDrops, {});
});

test("stopping one side's VM runs its stop order there only", async () => {
  const before = (await a.state()).oids.length;
  const beforeB = (await b.state()).oids.length;
  await b.stop();
  const sb = await b.state();
  const sa = await a.state();
  assert.deepEqual(
    sb.oids.slice(beforeB).map((line) => line.replace(/:\d+/, '')),
    ['NIC_DISCONNECT:vm', 'NIC_DELETE:vm', 'PORT_TEARDOWN:vm', 'PORT_DELETE:vm'],
  );
  assert.equal(sa.oids.length, before, 'no OID on the other side');
  assert.equal(sa.vmState, 'running');
  assert.ok(sb.ports.some((p) => p.type === 'external'), "b's external port stays");
  const lost = await a.exec('ping -c 2 -W 2 10.0.0.12');
  assert.notEqual(lost.exitCode, 0, 'b is gone');
});

test('`vmswitch lab --vxlan` from the command line joins the same network (in b\'s place)', async () => {
  // b's process ends and frees its UDP port; the CLI binds it, so a's allowlist and learning take it as b.
  const portB = b.config.vxlan.local.port;
  const portA = a.config.vxlan.local.port;
  await b.close();
  const { execFile } = await import('node:child_process');
  const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ['bin/vmswitch.js', 'lab', '--vm', 'vm:virtio@10.0.0.12/24', '--vxlan', `4242@${portB}=127.0.0.1:${portA}`, '--lab-id', 'cli', '--exec', 'vm:ping -c 3 -W 5 10.0.0.11', '--exec', 'vm:cat /sys/class/net/eth0/mtu'],
      { timeout: 600_000, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
  assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
  assert.match(result.stdout, /== uplink vxlan 4242 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+ \(MTU 1450, lab id cli\)/);
  assert.match(result.stdout, /3 packets received/);
  assert.match(result.stdout, /^1450$/m);
  assert.match(result.stdout, /PORT_CREATE.*\n(.*\n)*.*NIC_CONNECT/);
  assert.match(result.stdout, /uplink vxlan 4242 .*: tx \d+ frames in \d+ datagrams, rx \d+ frames of \d+ datagrams; drops: none/);
});
