// The Lab with scripted guests (no emulator): the start/stop lifecycles,
// labels, hosts, vetoes, a guest's poweroff, MTU/MAC sync, counters kept after
// PORT_DELETE, and the text the CLI prints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatMac } from '../../emulator/net/frame.ts';
import type { NicModel } from '../../emulator/net/nic.ts';
import { NicAttachError } from '../attach.ts';
import type { Extension } from '../extension.ts';
import { ScriptedNic, ethFrame, mac } from '../testing.ts';
import { Lab } from './lab.ts';
import { LabError, type LabErrorCode } from './errors.ts';
import { mayChangeLinkSettings } from './link-settings.ts';
import type { LabFaultEvent, LabOidEvent } from './lab.ts';
import type { GuestLaunch, LabGuest } from './guest.ts';
import { formatOidLine, formatPortTable, oidLogRecord } from './format.ts';

/** A guest that answers the lab's sysfs read from `mtu`/`macs` and records every command. */
class ScriptedGuest implements LabGuest {
  readonly nics: ScriptedNic[];
  readonly commands: string[] = [];
  mtu: number[];
  macs: string[];
  isStopped = false;
  private readonly consoleListeners = new Set<(bytes: Uint8Array) => void>();
  readonly console = {
    onData: (listener: (bytes: Uint8Array) => void) => {
      this.consoleListeners.add(listener);
      return () => this.consoleListeners.delete(listener);
    },
  };
  constructor(readonly launch: GuestLaunch, index: number, ready: boolean) {
    this.nics = launch.nics.map((n, i) => new ScriptedNic(n.model, mac(index * 16 + i + 1), ready));
    this.mtu = this.nics.map(() => 1500);
    this.macs = this.nics.map((n) => formatMac(n.mac));
  }
  async exec(command: string): Promise<{ output: string; exitCode: number }> {
    if (this.isStopped) throw new Error('stopped');
    this.commands.push(command);
    if (command.startsWith('cat /sys/class/net/')) return { output: this.nics.map((_, i) => `${this.mtu[i]}\n${this.macs[i]}\n`).join(''), exitCode: 0 };
    return { output: '', exitCode: 0 };
  }
  async stop(): Promise<void> {
    this.isStopped = true;
    for (const nic of this.nics) nic.destroy();
  }
  print(text: string): void {
    for (const listener of this.consoleListeners) listener(new TextEncoder().encode(text));
  }
}

function scriptedLab(options: { ready?: boolean; connectTimeoutMs?: number } = {}) {
  const guests: ScriptedGuest[] = [];
  const lab = new Lab({
    connectTimeoutMs: options.connectTimeoutMs ?? 1000,
    launch: async (launch) => {
      const guest = new ScriptedGuest(launch, guests.length + 1, options.ready ?? true);
      guests.push(guest);
      return guest;
    },
  });
  const oids: LabOidEvent[] = [];
  lab.on('oid', (e) => oids.push(e));
  const names = () => oids.map((e) => `${e.vm ?? '-'}/${e.nic ?? '-'}:${e.oid.replace('OID_SWITCH_', '')}:${e.portId}${e.status === 'success' ? '' : `:${e.status}`}`);
  return { lab, guests, oids, names };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 5));

test('start: every NIC gets PORT_CREATE, NIC_CREATE, NIC_CONNECT, labelled with its VM; addresses and hosts', async () => {
  const { lab, guests, names } = scriptedLab();
  lab.define('a', { nics: ['e1000'] });
  lab.define('b', { nics: ['virtio', { model: 'e1000', ip: '10.0.1.2/24' }] });
  await lab.start('a');
  await lab.start('b');
  assert.deepEqual(names(), [
    'a/eth0:PORT_CREATE:1',
    'a/eth0:NIC_CREATE:1',
    'a/eth0:NIC_CONNECT:1',
    'b/eth0:PORT_CREATE:2',
    'b/eth0:NIC_CREATE:2',
    'b/eth0:NIC_CONNECT:2',
    'b/eth1:PORT_CREATE:3',
    'b/eth1:NIC_CREATE:3',
    'b/eth1:NIC_CONNECT:3',
  ]);
  assert.equal(lab.switch.port(1)?.type, 'emulated');
  assert.equal(lab.switch.port(2)?.type, 'synthetic');
  assert.deepEqual(guests[1]!.launch.ip, ['10.0.0.2/24', '10.0.1.2/24']);
  assert.deepEqual(guests[0]!.launch.hosts, { a: '10.0.0.1', b: '10.0.0.2' }, 'names of VMs defined but not yet started resolve too');
  assert.equal(guests[0]!.launch.hostname, 'a');
  assert.equal(lab.vm('b')!.state, 'running');
  assert.deepEqual(lab.switch.extensions().map((e) => e.name), ['capture', 'acl', 'mac-learning']);
  assert.equal(lab.capture!.enabled, false, 'the capture is paused until asked for');

  // Frames flow between the VMs through the switch.
  const [na, nb] = [guests[0]!.nics[0]!, guests[1]!.nics[0]!];
  na.sink!.deliver([ethFrame(nb.mac, na.mac)]);
  await settle();
  assert.equal(nb.received.length, 1);
  assert.equal(lab.ports().find((p) => p.vm === 'a')!.counters.rxPackets, 1);
  await lab.close();
});

test('a VM defined after others started: the running guests learn its name', async () => {
  const { lab, guests } = scriptedLab();
  await lab.start('a', { nics: ['virtio'] });
  await lab.start('b', { nics: ['virtio'] });
  assert.ok(guests[0]!.commands.includes('/sbin/vmswitch-config hosts=a=10.0.0.1,b=10.0.0.2'), guests[0]!.commands.join('\n'));
  assert.ok(!guests[1]!.commands.some((c) => c.includes('hosts=')), 'b was given the list at start');
  await lab.close();
});

test('stop: the seed order, the guest stops afterwards, the port counters are kept after PORT_DELETE', async () => {
  const { lab, guests, names } = scriptedLab();
  await lab.start('a', { nics: ['e1000'] });
  await lab.start('b', { nics: ['virtio'] });
  const [na, nb] = [guests[0]!.nics[0]!, guests[1]!.nics[0]!];
  na.sink!.deliver([ethFrame(nb.mac, na.mac), ethFrame(nb.mac, na.mac)]);
  await settle();
  const before = names().length;
  await lab.stop('b');
  assert.deepEqual(names().slice(before), ['b/eth0:NIC_DISCONNECT:2', 'b/eth0:NIC_DELETE:2', 'b/eth0:PORT_TEARDOWN:2', 'b/eth0:PORT_DELETE:2']);
  assert.equal(guests[1]!.isStopped, true);
  assert.equal(lab.vm('b')!.state, 'stopped');
  assert.equal(lab.switch.port(2), undefined);
  const row = lab.ports().find((p) => p.portId === 2)!;
  assert.equal(row.portState, 'deleted');
  assert.equal(row.counters.txPackets, 2);
  // Frames for the stopped VM are no longer delivered.
  na.sink!.deliver([ethFrame(nb.mac, na.mac)]);
  await settle();
  assert.equal(nb.received.length, 2);

  await lab.start('b');
  assert.deepEqual(lab.vm('b')!.portIds, [3], 'a restart gets a new port');
  await assert.rejects(lab.exec('c', 'true'), /no VM named 'c'/);
  await lab.stop('b');
  await assert.rejects(lab.exec('b', 'true'), /VM 'b' is stopped/);
  await lab.close();
});

test('a vetoed NIC_CREATE: NicAttachError naming the extension, no port left, the guest stopped', async () => {
  const { lab, guests, names } = scriptedLab();
  const veto: Extension = { name: 'gatekeeper', kind: 'filter', oidRequest: (r) => (r.oid === 'OID_SWITCH_NIC_CREATE' ? { veto: 'not today' } : undefined) };
  lab.switch.addExtension(veto);
  await assert.rejects(lab.start('a', { nics: ['virtio'] }), (error: unknown) => {
    assert.ok(error instanceof NicAttachError);
    assert.equal(error.vetoedBy, 'gatekeeper');
    assert.match(error.message, /a\/eth0 \(virtio, [0-9a-f:]+\) could not join the switch: OID_SWITCH_NIC_CREATE vetoed by extension 'gatekeeper'/);
    return true;
  });
  assert.deepEqual(lab.switch.ports(), []);
  assert.equal(guests[0]!.isStopped, true);
  assert.equal(lab.vm('a')!.state, 'failed');
  assert.deepEqual(names(), ['a/eth0:PORT_CREATE:1', 'a/eth0:NIC_CREATE:1:vetoed', 'a/eth0:PORT_TEARDOWN:1', 'a/eth0:PORT_DELETE:1']);

  // The second NIC vetoed: the first one's port goes too.
  lab.switch.removeExtension('gatekeeper');
  let creates = 0;
  lab.switch.addExtension({ name: 'one-only', kind: 'filter', oidRequest: (r) => (r.oid === 'OID_SWITCH_PORT_CREATE' && ++creates > 1 ? { veto: 'one port' } : undefined) });
  await assert.rejects(lab.start('b', { nics: ['virtio', 'e1000'] }), /b\/eth1.*PORT_CREATE vetoed by extension 'one-only'/);
  assert.deepEqual(lab.switch.ports(), []);
  assert.equal(names().filter((n) => n.startsWith('b/eth1')).length, 1, 'the vetoed PORT_CREATE is labelled');
  await lab.close();
});

test("the guest's poweroff runs the stop lifecycle", async () => {
  const { lab, guests, names } = scriptedLab();
  const states: string[] = [];
  lab.on('vm', (e) => states.push(`${e.vm}:${e.state}${e.detail ? `:${e.detail}` : ''}`));
  await lab.start('a', { nics: ['e1000'] });
  guests[0]!.print('[  12.3] reboot: Power');
  guests[0]!.print(' down\r\n');
  await lab.vm('a')!.busy;
  assert.deepEqual(names().slice(3).map((n) => n.split(':')[1]), ['NIC_DISCONNECT', 'NIC_DELETE', 'PORT_TEARDOWN', 'PORT_DELETE']);
  assert.deepEqual(states, ['a:starting', 'a:running', 'a:stopping:guest poweroff', 'a:stopped:guest poweroff']);
  assert.equal(guests[0]!.isStopped, true);
  await lab.close();
});

test('MTU and MAC changed in the guest become NIC_UPDATED after a command that may change them', async () => {
  const { lab, guests, names } = scriptedLab();
  await lab.start('a', { nics: ['virtio'] });
  const guest = guests[0]!;
  await lab.exec('a', 'echo hello');
  assert.deepEqual(guest.commands.filter((c) => c.startsWith('cat /sys')), [], 'no sysfs read after a command that cannot change links');
  guest.mtu[0] = 9000;
  await lab.exec('a', 'ip link set eth0 mtu 9000');
  assert.equal(lab.switch.nic(1, 0)?.mtu, 9000);
  guest.macs[0] = '02:00:00:00:00:99';
  await lab.exec('a', 'ifconfig eth0 hw ether 02:00:00:00:00:99');
  assert.equal(formatMac(lab.switch.nic(1, 0)!.mac), '02:00:00:00:00:99');
  await lab.exec('a', 'ip addr show');
  assert.deepEqual(names().slice(3), ['a/eth0:NIC_UPDATED:1', 'a/eth0:NIC_UPDATED:1'], 'one update per change, none when nothing changed');
  assert.deepEqual(lab.vm('a')!.portIds, [1]);
  await lab.close();
});

test('a NIC whose driver is not bound yet: start resolves after the wait; NIC_CONNECT follows the driver', async () => {
  const { lab, guests, names } = scriptedLab({ ready: false, connectTimeoutMs: 20 });
  const progress: string[] = [];
  lab.on('progress', (e) => progress.push(e.message));
  await lab.start('a', { nics: ['e1000'] });
  assert.deepEqual(names(), ['a/eth0:PORT_CREATE:1', 'a/eth0:NIC_CREATE:1']);
  assert.match(progress.join('\n'), /a\/eth0 \(port 1\): the guest's driver has not bound the adapter yet/);
  guests[0]!.nics[0]!.driver({ type: 'ready' });
  await settle();
  assert.deepEqual(names().slice(2), ['a/eth0:NIC_CONNECT:1']);
  await lab.close();
});

test('define checks names and models', () => {
  const { lab } = scriptedLab();
  assert.throws(() => lab.define('A', { nics: ['e1000'] }), /lower-case/);
  assert.throws(() => lab.define('a', { nics: ['e1001' as NicModel] }), /unknown NIC model 'e1001'/);
  assert.throws(() => lab.define('a', {} as never), /nics must be a list/);
});

function isLabError(code: LabErrorCode, message: RegExp) {
  return (error: unknown) => error instanceof LabError && error.name === 'LabError' && error.code === code && message.test(error.message);
}

test('refused Lab calls are LabErrors with a code', async () => {
  const { lab } = scriptedLab();
  assert.throws(() => lab.define('A', { nics: ['e1000'] }), isLabError('bad-name', /lower-case/));
  assert.throws(() => lab.define('a', { nics: ['e1001' as NicModel] }), isLabError('unknown-model', /unknown NIC model 'e1001'/));
  await assert.rejects(lab.start('nobody'), isLabError('no-vm', /no VM named 'nobody' \(define it first\)/));
  await assert.rejects(lab.stop('nobody'), isLabError('no-vm', /no VM named 'nobody'/));
  lab.define('a', { nics: ['e1000'] });
  await assert.rejects(lab.exec('a', 'true'), isLabError('vm-state', /VM 'a' is defined, not running/));
  await lab.start('a');
  assert.throws(() => lab.define('a', { nics: ['virtio'] }), isLabError('vm-state', /VM 'a' is running; stop it before redefining it/));
  await lab.close();
  await assert.rejects(lab.start('a'), isLabError('closed', /the lab is closed/));
});

test('which commands make the lab re-read link settings', () => {
  for (const command of ['ip link set eth0 mtu 9000', 'ifconfig eth0 mtu 1400', 'rmmod e1000; modprobe e1000', 'sh /tmp/setup', './x', 'vconfig add eth0 10']) {
    assert.ok(mayChangeLinkSettings(command), command);
  }
  for (const command of ['ping -c 3 b', 'wget -q -O - http://b/', 'echo hi', 'iperf3 -c b -t 5']) {
    assert.ok(!mayChangeLinkSettings(command), command);
  }
});

test('text output: an OID line, the --oid-log record, the counters table', () => {
  const event: LabOidEvent = { time: 1500, oid: 'OID_SWITCH_NIC_CREATE', portId: 3, nicIndex: 0, status: 'vetoed', vetoedBy: 'acl', detail: 'no', vm: 'a', nic: 'eth0', model: 'e1000' };
  assert.equal(formatOidLine(event, 1000), '   0.500s  NIC_CREATE     port 3 nic 0     a/eth0 (e1000)   vetoed by acl: no');
  assert.deepEqual(oidLogRecord({ time: 7, oid: 'OID_SWITCH_PORT_CREATE', portId: 1, status: 'success' }), {
    time: 7,
    oid: 'OID_SWITCH_PORT_CREATE',
    vm: null,
    nic: null,
    portId: 1,
    nicIndex: null,
    status: 'success',
  });
  const table = formatPortTable([
    {
      portId: 1,
      vm: 'a',
      nic: 'eth0',
      model: 'e1000',
      mac: '02:00:00:00:00:01',
      portState: 'deleted',
      nicState: 'deleted',
      counters: { rxPackets: 10, rxBytes: 1000, txPackets: 2, txBytes: 200, drops: { 'acl:no-icmp': 3 } },
      deliveryDrops: {},
    },
  ]);
  assert.deepEqual(table.split('\n'), [
    'port  vm/nic  model  mac                state    rx pkts  rx bytes  tx pkts  tx bytes  drops',
    '   1  a/eth0  e1000  02:00:00:00:00:01  deleted       10      1000        2       200  acl:no-icmp=3',
  ]);
});

test("every OID event of a VM's port carries the NIC's model, from PORT_CREATE to PORT_DELETE and on a veto", async () => {
  const { lab, oids } = scriptedLab();
  await lab.start('a', { nics: ['e1000'] });
  await lab.start('b', { nics: ['virtio', 'e1000'] });
  await lab.stop('b');
  let creates = 0;
  lab.switch.addExtension({ name: 'one-only', kind: 'filter', oidRequest: (r) => (r.oid === 'OID_SWITCH_PORT_CREATE' && ++creates > 1 ? { veto: 'one port' } : undefined) });
  await assert.rejects(lab.start('c', { nics: ['virtio', 'e1000'] }));
  const expected: Record<string, NicModel> = { 'a/eth0': 'e1000', 'b/eth0': 'virtio', 'b/eth1': 'e1000', 'c/eth0': 'virtio', 'c/eth1': 'e1000' };
  const seen = new Set<string>();
  for (const event of oids) {
    const who = `${event.vm}/${event.nic}`;
    assert.equal(event.model, expected[who], `${event.oid} ${event.status} of ${who}`);
    seen.add(`${who}:${event.oid.replace('OID_SWITCH_', '')}${event.status === 'success' ? '' : `:${event.status}`}`);
  }
  // The walk covered every kind of event the lab labels.
  for (const kind of ['a/eth0:NIC_CONNECT', 'b/eth1:PORT_DELETE', 'c/eth0:PORT_DELETE', 'c/eth1:PORT_CREATE:vetoed']) assert.ok(seen.has(kind), `${kind} in ${[...seen].join(' ')}`);
  await lab.close();
});

test("a NIC's fault: a 'fault' event with the error, its port stops in the seed's order, the row says failed, the VM keeps running", async () => {
  const { lab, guests, names } = scriptedLab();
  const faults: LabFaultEvent[] = [];
  lab.on('fault', (event) => faults.push(event));
  await lab.start('a', { nics: ['e1000'] });
  await lab.start('b', { nics: ['e1000', 'virtio'] });
  const before = names().length;
  // The runtime's contained NIC says this when its model throws (emulator/net/contain.ts).
  guests[1]!.nics[1]!.driver({ type: 'failed', error: new RangeError('offset is out of bounds') });
  await settle();
  assert.deepEqual(faults, [{ time: faults[0]!.time, vm: 'b', nic: 'eth1', model: 'virtio', portId: 3, message: 'RangeError: offset is out of bounds' }]);
  assert.deepEqual(names().slice(before), ['b/eth1:NIC_DISCONNECT:3', 'b/eth1:NIC_DELETE:3', 'b/eth1:PORT_TEARDOWN:3', 'b/eth1:PORT_DELETE:3']);
  assert.equal(lab.vm('b')!.state, 'running');
  assert.equal(lab.vm('b')!.faults.length, 1);
  const row = lab.ports().find((r) => r.portId === 3)!;
  assert.equal(row.fault, 'RangeError: offset is out of bounds');
  assert.match(formatPortTable(lab.ports()), /b\/eth1\s+virtio\s+\S+\s+failed/);
  // b's other NIC still works; stopping b later waits for the failed port's stop instead of repeating it.
  assert.ok(lab.ports().some((r) => r.portId === 2 && r.nicState === 'connected'));
  await lab.exec('b', 'true');
  await lab.stop('b');
  assert.equal(lab.vm('b')!.state, 'stopped');
  await lab.close();
});

test('a stopped VM is not kept alive by the lab: its port records let go of the NIC (the soak bench saw one VM of RSS per restart)', async () => {
  const { setFlagsFromString } = await import('node:v8');
  const { runInNewContext } = await import('node:vm');
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const { lab, guests } = scriptedLab();
  await lab.start('a', { nics: ['e1000'] });
  await lab.start('b', { nics: ['virtio'] });
  const nic = new WeakRef(guests[1]!.nics[0]!);
  await lab.stop('b');
  guests.length = 0;
  for (let i = 0; i < 10 && nic.deref() !== undefined; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    gc();
  }
  assert.equal(nic.deref(), undefined, "the stopped VM's NIC is still reachable from the lab");
  assert.equal(lab.ports().find((r) => r.vm === 'b')?.portState, 'deleted', 'the row of the deleted port stays');
  await lab.close();
});

test('port security holds on the sysfs route too: a MAC the guest set behind the device is refused, its MTU still syncs', async () => {
  const { lab, guests, names } = scriptedLab();
  await lab.start('a', { nics: [{ model: 'virtio', properties: [{ type: 'security', allowMacSpoofing: false }] }] });
  const guest = guests[0]!;
  const enforced = formatMac(lab.switch.nic(1, 0)!.mac);
  guest.macs[0] = '02:00:00:00:00:99';
  guest.mtu[0] = 9000;
  await lab.exec('a', 'ip link set eth0 address 02:00:00:00:00:99 mtu 9000');
  assert.equal(formatMac(lab.switch.nic(1, 0)!.mac), enforced, 'the MAC port security enforces is the host\'s');
  assert.equal(lab.switch.nic(1, 0)?.mtu, 9000);
  assert.deepEqual(names().filter((n) => n.includes('NIC_UPDATED')), ['a/eth0:NIC_UPDATED:1'], 'one NIC_UPDATED, for the MTU');
  await lab.close();
});

test("a VM whose thread dies (ended 'failed') fails alone: its ports run the stop lifecycle, the state says why", async () => {
  const endings: ((end: { reason: string; detail?: string }) => void)[] = [];
  let made = 0;
  const lab = new Lab({
    connectTimeoutMs: 1000,
    launch: async (launch) => {
      const guest = new ScriptedGuest(launch, ++made, true);
      return Object.assign(guest, { ended: new Promise<{ reason: string; detail?: string }>((resolve) => endings.push(resolve)) });
    },
  });
  const oids: string[] = [];
  lab.on('oid', (e) => oids.push(`${e.vm}:${e.oid.replace('OID_SWITCH_', '')}`));
  const states: string[] = [];
  lab.on('vm', (e) => states.push(`${e.vm}:${e.state}${e.detail ? `:${e.detail}` : ''}`));
  await lab.start('a', { nics: ['e1000'] });
  await lab.start('b', { nics: ['virtio', 'e1000'] });
  oids.length = 0;
  states.length = 0;
  endings[1]!({ reason: 'failed', detail: "the VM's thread ended: ERR_WORKER_OUT_OF_MEMORY" });
  for (let i = 0; i < 50 && lab.vm('b')!.state !== 'failed'; i++) await settle();
  assert.equal(lab.vm('b')!.state, 'failed');
  assert.deepEqual(states, ['b:stopping:' + "the VM's thread ended: ERR_WORKER_OUT_OF_MEMORY", 'b:failed:' + "the VM's thread ended: ERR_WORKER_OUT_OF_MEMORY"]);
  assert.deepEqual(oids, ['NIC_DISCONNECT', 'NIC_DELETE', 'PORT_TEARDOWN', 'PORT_DELETE', 'NIC_DISCONNECT', 'NIC_DELETE', 'PORT_TEARDOWN', 'PORT_DELETE'].map((oid) => `b:${oid}`));
  assert.equal(lab.vm('a')!.state, 'running');
  assert.equal(lab.switch.ports().length, 1, "only a's port is left");
  // It starts again like a stopped VM.
  await lab.start('b');
  assert.equal(lab.vm('b')!.state, 'running');
  await lab.close();
});

test("a VM's own template choice overrides the lab's (the page offers snapshot or cold per VM)", async () => {
  const { lab, guests } = scriptedLab();
  await lab.start('a', { nics: ['e1000'], template: false });
  await lab.start('b', { nics: ['e1000'] });
  await lab.stop('a');
  await lab.start('a', { nics: ['e1000'], template: true });
  assert.deepEqual(
    guests.map((g) => `${g.launch.name}:${g.launch.template}`),
    ['a:false', 'b:true', 'a:true'],
  );
  await lab.close();
});
