// The switch's own extensions with real guests on one Switch: busybox udhcpc
// gets its reserved address from DhcpServerExtension (the exchange a real
// DHCP client accepts: checksums, options, unicast and broadcast replies),
// and ImpairmentExtension's delay shows in ping's round trips on the real
// clock and timers (50 ms each way: RTT >= 100 ms).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Switch } from '../../host/switch.ts';
import { SwitchPortAttachment } from '../../host/attach.ts';
import { MacLearningForwarder } from '../../host/extensions/mac-learning.ts';
import { ImpairmentExtension } from '../../host/extensions/impairment.ts';
import { DhcpServerExtension } from '../../host/extensions/dhcp-server.ts';
import { DhcpGuard } from '../../host/extensions/guards.ts';
import { VirtualMachine } from '../../emulator/vm.ts';
import { sh } from './shell.ts';

const A_MAC = '52:54:00:00:05:0a';
let sw: Switch;
let impairment: ImpairmentExtension;
let dhcp: DhcpServerExtension;
let a: VirtualMachine | undefined;
let b: VirtualMachine | undefined;

function portOf(vm: VirtualMachine): number {
  const attachment = vm.attachments[0];
  assert.ok(attachment instanceof SwitchPortAttachment);
  return attachment.portId;
}

before(async () => {
  impairment = new ImpairmentExtension({ seed: 1 });
  dhcp = new DhcpServerExtension({
    serverIp: '10.0.5.1',
    subnet: '10.0.5.0/24',
    gateway: '10.0.5.254',
    dns: '10.0.5.53',
    leaseSeconds: 600,
    reservations: [{ mac: A_MAC, ip: '10.0.5.10' }],
    pool: { from: '10.0.5.100', to: '10.0.5.110' },
  });
  sw = new Switch({ name: 'ext', extensions: [impairment, new DhcpGuard(), dhcp, new MacLearningForwarder()] });
  const log = (line: string): void => console.log(`# ${line}`);
  const hosts = { a: '10.0.5.10', b: '10.0.5.2' };
  a = await VirtualMachine.start({ name: 'a', template: true, nics: [{ model: 'e1000', switch: sw, mac: A_MAC }], hosts, log });
  b = await VirtualMachine.start({ name: 'b', template: true, nics: [{ model: 'virtio', switch: sw, ip: '10.0.5.2/24' }], hosts, log });
});

after(async () => {
  await a?.stop().catch(() => undefined);
  await b?.stop().catch(() => undefined);
});

test('busybox udhcpc gets the reserved address, lease time and server from the switch', async () => {
  await sh(a!, 'ip link set eth0 up');
  const out = await sh(a!, 'udhcpc -i eth0 -n -q -t 5 -T 2 -s /bin/true 2>&1', 60_000);
  assert.match(out, /lease of 10\.0\.5\.10 obtained from 10\.0\.5\.1, lease time 600/);
  assert.deepEqual(dhcp.leaseTable().map((l) => [l.mac, l.ip, l.state]), [[A_MAC, '10.0.5.10', 'bound']]);
  assert.equal(dhcp.counters().sent.ack, 1);
});

test("the DHCP guard drops a rogue busybox udhcpd's offers: the client still gets the switch's lease", async () => {
  const conf = 'start 10.0.5.200\nend 10.0.5.210\ninterface eth0\nlease_file /tmp/udhcpd.leases\nopt router 10.0.5.2\n';
  await sh(b!, `printf '${conf}' > /tmp/udhcpd.conf && touch /tmp/udhcpd.leases && udhcpd /tmp/udhcpd.conf`);
  const guarded = () => sw.counters(portOf(b!)).drops['dhcp-guard'] ?? 0;
  const out = await sh(a!, 'udhcpc -i eth0 -n -q -t 5 -T 2 -s /bin/true 2>&1', 60_000);
  assert.match(out, /lease of 10\.0\.5\.10 obtained from 10\.0\.5\.1,/);
  // The rogue answered too (its offer was dropped at its port).
  for (let k = 0; k < 20 && guarded() === 0; k++) await new Promise((r) => setTimeout(r, 250));
  assert.ok(guarded() >= 1, `rogue offers dropped: ${guarded()}`);
  await sh(b!, 'killall udhcpd || true');
});

test('50 ms of delay each way on a port makes every round trip >= 100 ms', async () => {
  await sh(a!, 'ip addr add 10.0.5.10/24 dev eth0 2>/dev/null || true');
  await sh(a!, 'ping -c 2 -W 5 b');
  const delay = { delayMs: 50, jitterMs: 0, lossPercent: 0, duplicatePercent: 0, reorderPercent: 0, rateBitsPerSecond: 0, limitFrames: 0, down: false };
  impairment.set(portOf(a!), { send: delay, receive: delay });
  const out = await sh(a!, 'ping -c 5 -W 5 b');
  const m = /min\/avg\/max = ([\d.]+)\/([\d.]+)\/([\d.]+)/.exec(out);
  assert.ok(m, out);
  assert.ok(Number(m[1]) >= 100, `min RTT ${m[1]} ms`);
  impairment.clear(portOf(a!));
  const after = /min\/avg\/max = ([\d.]+)/.exec(await sh(a!, 'ping -c 3 -W 5 b'));
  assert.ok(after && Number(after[1]) < 100, `without the delay: ${after?.[1]} ms`);
});
