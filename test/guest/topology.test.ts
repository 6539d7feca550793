// A router lab from examples/two-lans-router.yaml with real guests:
//   a (e1000, 10.0.1.10) -- lan1 -- [e1000 router virtio] -- lan2 -- b (virtio, 10.0.2.10)
// Routing across the router VM (ping, traceroute's hop, 16 MiB over TCP with
// its sha256, IPv6), then impairment on a's NIC set while running: 50 ms each
// way, 10% loss within exact binomial bounds, a 1 Mbit/s rate under iperf3.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseLabFile, parseImpairmentSpec, type Impairment } from '../../host/lab/file/index.ts';
import { LabTopology, type CommandResult } from '../../host/lab/topology.ts';
import { labShell } from './shell.ts';
import type { ImpairmentExtension } from '../../host/extensions/impairment.ts';

let topo: LabTopology;
let commandResults: CommandResult[] = [];
const { sh, ok } = labShell(() => topo.lab);

function impairment(spec: string): Impairment {
  const value = parseImpairmentSpec(spec);
  assert.ok(value && typeof value === 'object', spec);
  return value;
}

before(async () => {
  const plan = parseLabFile(readFileSync(new URL('../../examples/two-lans-router.yaml', import.meta.url), 'utf8'));
  // One at a time: the first run cold-boots the templates, slow on a loaded machine.
  topo = await LabTopology.create(plan, { startConcurrency: 1 });
  topo.lab.on('progress', (e) => process.stderr.write(`# ${e.vm ?? ''} ${e.message}\n`));
  await topo.start();
  commandResults = await topo.runCommands({ timeoutMs: 60_000 });
});

after(async () => {
  await topo?.close();
});

test("the lab file's commands ran once up: b pinged a across the router", () => {
  assert.equal(commandResults.length, 1);
  assert.equal(commandResults[0]!.exitCode, 0, commandResults[0]!.output);
  assert.match(commandResults[0]!.output, /3 packets transmitted, 3 packets received/);
});

test('a pings b on the other LAN through the router; traceroute shows the router hop', async () => {
  assert.match(await ok('a', 'ping -c 2 -W 5 b'), /2 packets received/);
  assert.match(await ok('b', 'ip route'), /default via 10\.0\.2\.1 dev eth0/);
  assert.match(await ok('router', 'cat /proc/sys/net/ipv4/ip_forward'), /^1/);
  const trace = await ok('a', 'traceroute -n -w 2 -q 1 10.0.2.10', 90_000);
  const hops = trace.split('\n').filter((line) => /^\s*\d+\s/.test(line));
  assert.match(hops[0] ?? '', /^\s*1\s+10\.0\.1\.1\s/, trace);
  assert.match(hops[1] ?? '', /^\s*2\s+10\.0\.2\.10\s/, trace);
  // Frames crossed both switches: the router's ports forwarded in each direction.
  const rows = topo.lab.ports().filter((row) => row.vm === 'router');
  assert.equal(rows.length, 2);
  for (const row of rows) assert.ok(row.counters.rxPackets > 0 && row.counters.txPackets > 0, `${row.switch}:${row.nic}`);
});

test('IPv6 across the router (the second address of each NIC, set by the lab in the guest)', async () => {
  assert.match(await ok('a', 'ip -6 addr show dev eth0'), /2001:db8:1::10\/64/);
  assert.match(await ok('a', 'ping -c 2 -W 5 2001:db8:2::10', 60_000), /2 packets received/);
});

test('16 MiB over TCP from a to b across the router arrive with the same sha256', async () => {
  await ok('b', "rm -f /tmp/rx.sum; printf '#!/bin/sh\\nsha256sum > /tmp/rx.part && mv /tmp/rx.part /tmp/rx.sum\\n' > /tmp/rx.sh; chmod +x /tmp/rx.sh");
  await ok('b', '(nc -l -p 5001 -e /tmp/rx.sh) >/dev/null 2>&1 &');
  await ok('a', 'dd if=/dev/urandom of=/tmp/tx.bin bs=1M count=16 2>/dev/null');
  const sent = (await ok('a', 'sha256sum < /tmp/tx.bin')).split(/\s/)[0]!;
  await ok('a', 'nc -w 3 10.0.2.10 5001 < /tmp/tx.bin', 300_000);
  let received = '';
  for (let i = 0; i < 60 && !/^[0-9a-f]{64}/.test(received); i++) {
    received = (await sh('b', 'cat /tmp/rx.sum 2>/dev/null || true')).output;
    if (!/^[0-9a-f]{64}/.test(received)) await new Promise((r) => setTimeout(r, 1000));
  }
  assert.match(sent, /^[0-9a-f]{64}$/);
  assert.equal(received.split(/\s/)[0], sent);
});

/** P(X = k) for X ~ Binomial(n, p), summed over a range, in logs (no overflow at n = 400). */
function binomialMass(n: number, p: number, from: number, to: number): number {
  let logC = 0;
  let sum = 0;
  for (let k = 0; k <= n; k++) {
    if (k > 0) logC += Math.log(n - k + 1) - Math.log(k);
    if (k >= from && k <= to) sum += Math.exp(logC + k * Math.log(p) + (n - k) * Math.log(1 - p));
  }
  return sum;
}

test('50 ms delay each way on a NIC makes the RTT at least 100 ms; cleared, frames are held no more', async () => {
  const extension = topo.switches.get('lan1')!.impairer!.extension as ImpairmentExtension;
  const port = topo.lab.vm('a')!.portIds[0]!;
  topo.setImpairment({ vm: 'a', nic: 'eth0' }, { send: impairment('delay=50ms'), receive: impairment('delay=50ms') });
  try {
    const out = await ok('a', 'ping -c 3 -W 5 10.0.1.1');
    const times = [...out.matchAll(/time=([0-9.]+) ms/g)].map((m) => Number(m[1]));
    assert.equal(times.length, 3, out);
    for (const t of times) assert.ok(t >= 100, `rtt ${t} ms >= 100 ms\n${out}`);
  } finally {
    topo.setImpairment({ vm: 'a', nic: 'eth0' }, { send: null, receive: null });
  }
  // An upper bound on the RTT would be a timing assertion on a loaded machine: the extension's own count says it.
  const queued = () => extension.counters(port).send.queued + extension.counters(port).receive.queued;
  const before = queued();
  assert.ok(before >= 6, 'the delayed pings were queued');
  assert.match(await ok('a', 'ping -c 2 -W 5 10.0.1.1'), /2 packets received/);
  assert.equal(queued(), before, 'nothing queued once cleared');
});

test("10% loss on a's sends shows in ping's statistics within exact binomial bounds (false failure < 1e-6)", async () => {
  const n = 400;
  const p = 0.1;
  // The widest central range whose two tails together stay under 1e-6.
  let lo = Math.round(n * p);
  let hi = lo;
  while (binomialMass(n, p, 0, lo - 1) + binomialMass(n, p, hi + 1, n) >= 1e-6) {
    lo--;
    hi++;
  }
  assert.ok(lo > 0, 'the bounds exclude "no loss at all"');
  topo.setImpairment({ vm: 'a', nic: 'eth0' }, { send: impairment('loss=10%') });
  let out: string;
  try {
    // Replies come from the router's own address: only the echo requests cross the lossy direction.
    out = (await sh('a', `ping -c ${n} -i 0.02 -W 2 -q 10.0.1.1`, 180_000)).output;
  } finally {
    topo.setImpairment({ vm: 'a', nic: 'eth0' }, { send: null });
  }
  const m = /(\d+) packets transmitted, (\d+) packets received/.exec(out);
  assert.ok(m, out);
  assert.equal(Number(m[1]), n);
  const lost = n - Number(m[2]);
  assert.ok(lost >= lo && lost <= hi, `${lost} of ${n} lost; expected ${lo}..${hi}\n${out}`);
});

test('a 1 Mbit/s rate limit caps iperf3 near 1 Mbit/s, with the bucket holding frames back', async () => {
  const extension = topo.switches.get('lan1')!.impairer!.extension as ImpairmentExtension;
  const port = topo.lab.vm('a')!.portIds[0]!;
  const queuedBefore = extension.counters(port).send.queued;
  await ok('b', 'iperf3 -s -D -1 >/dev/null 2>&1; sleep 0.5');
  topo.setImpairment({ vm: 'a', nic: 'eth0' }, { send: impairment('rate=1mbit') });
  let out: string;
  try {
    out = await ok('a', 'iperf3 -c 10.0.2.10 -t 10 -f k 2>&1', 120_000);
  } finally {
    topo.setImpairment({ vm: 'a', nic: 'eth0' }, { send: null });
  }
  // The receiver's figure: what came through the bucket (TCP payload, so a little under the frame rate).
  const line = out.split('\n').find((l) => /receiver/.test(l));
  const kbits = Number(/([0-9.]+) Kbits\/sec/.exec(line ?? '')?.[1]);
  // The cap is the firm bound; the floor is loose: on a loaded machine the guests stall now and then
  // (unlimited runs measured 0.5-1 Mbit/s across the router at load 20 on 2 cores).
  assert.ok(kbits <= 1010 && kbits >= 300, `receiver ${kbits} Kbit/s\n${out}`);
  assert.ok(extension.counters(port).send.queued - queuedBefore > 100, 'the token bucket held frames back: the cap is the limiter, not a slow guest');
});
