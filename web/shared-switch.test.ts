import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { OidEvent } from '../host/events.ts';
import { Switch } from '../host/switch.ts';
import { SwitchPortAttachment } from '../host/attach.ts';
import { BROADCAST, RecordingExtension, ScriptedNic, VirtualClock, ethFrame } from '../host/testing.ts';
import { SHARED_SWITCH_DROP_REASONS as R } from '../host/drop-reasons.ts';
import { parseMac } from '../emulator/net/frame.ts';
import { parseHello, pageMac, type SharedHello } from '../host/uplink/websocket-protocol.ts';
import { SharedSwitch, SharedSwitchFullError } from './shared-switch.ts';
import { RecordingPageSocket, linkPage } from './shared-switch-testing.ts';
import { connectSharedSwitch } from './app/shared-uplink.ts';
import { Lab } from '../host/lab/lab.ts';
import { scriptedLaunch } from '../host/lab/testing.ts';

const settle = () => new Promise((resolve) => setTimeout(resolve, 5));
const macOf = (page: number, vm: number, nic = 0) => parseMac(pageMac(page, vm, nic));

function recordOids(sw: Switch): string[] {
  const log: string[] = [];
  sw.events.on('oid', (e: OidEvent) => log.push(`${e.oid.replace('OID_SWITCH_', '')}:${e.portId}`));
  return log;
}

async function joined(shared: SharedSwitch) {
  const socket = new RecordingPageSocket();
  const page = shared.admit(socket, { origin: 'http://localhost:8086', address: '127.0.0.1:1' });
  await page.settled();
  return { socket, page };
}

test('a page joins as a generic port (PORT_CREATE, NIC_CREATE, NIC_CONNECT), then gets its hello; pages get distinct numbers', async () => {
  const shared = new SharedSwitch();
  const oids = recordOids(shared.switch);
  const a = await joined(shared);
  const b = await joined(shared);
  const join = (id: number) => [`PORT_CREATE:${id}`, `PORT_PROPERTY_ADD:${id}`, `NIC_CREATE:${id}`, `NIC_CONNECT:${id}`];
  assert.deepEqual(oids, [...join(a.page.portId!), ...join(b.page.portId!)]);
  const [port] = shared.switch.ports();
  assert.equal(port!.type, 'generic');
  assert.equal(port!.nics[0]!.type, 'synthetic');
  const hello = parseHello(a.socket.sent[0] as string) as SharedHello;
  assert.equal(typeof a.socket.sent[0], 'string');
  assert.equal(hello.page, 1);
  assert.equal((parseHello(b.socket.sent[0] as string) as SharedHello).page, 2);
  assert.equal(hello.macPrefix, '0a:76:6d:01');
  assert.equal(hello.ipBase, '10.0.1');
});

test('frames flow between pages; a source MAC outside the page\'s prefix (another page\'s, broadcast) is dropped and counted', async () => {
  const shared = new SharedSwitch();
  const a = await joined(shared);
  const b = await joined(shared);
  const own = ethFrame(BROADCAST, macOf(1, 1)).data;
  a.page.receive(own, true);
  assert.equal(b.socket.frames.length, 1);
  assert.deepEqual(b.socket.frames[0], own);
  // Page 1 pretends to be page 2's VM, or a multicast source.
  a.page.receive(ethFrame(BROADCAST, macOf(2, 1)).data, true);
  a.page.receive(ethFrame(BROADCAST, BROADCAST).data, true);
  a.page.receive(ethFrame(macOf(2, 1), Uint8Array.of(0x0a, 0x76, 0x6d, 0x02, 1, 0)).data, true);
  assert.equal(b.socket.frames.length, 1, 'no spoofed frame reached page 2');
  assert.equal(a.page.drops[R.foreignSourceMac], 3);
  assert.equal(shared.drops[R.foreignSourceMac], 3);
  assert.equal(a.page.counters.rxFrames, 1);
});

test('hostile messages are dropped with their reason: text, empty, truncated, oversize, not bytes, before the port exists', async () => {
  const shared = new SharedSwitch();
  const early = shared.admit(new RecordingPageSocket(), { origin: 'o', address: 'a' });
  early.receive(ethFrame(BROADCAST, macOf(1, 1)).data, true);
  assert.equal(early.drops[R.notConnected], 1, 'a frame before NIC_CONNECT');
  await early.settled();
  const b = await joined(shared);
  const page = early;
  page.receive('hello?', false);
  page.receive(new TextEncoder().encode('{"type":"x"}'), false);
  page.receive(new Uint8Array(0), true);
  page.receive(macOf(1, 1), true);
  page.receive(new Uint8Array(13), true);
  page.receive(ethFrame(BROADCAST, macOf(1, 1), { length: 1515 }).data, true);
  page.receive(ethFrame(BROADCAST, macOf(1, 1), { length: 1519, vlan: 5 }).data, true);
  page.receive({ length: 60 }, true);
  page.receive(null, true);
  page.receive(ethFrame(BROADCAST, macOf(1, 1), { length: 1514 }).data.slice().buffer, true);
  assert.deepEqual(page.drops, {
    [R.notConnected]: 1,
    [R.textMessage]: 4,
    [R.emptyMessage]: 1,
    [R.truncated]: 2,
    [R.oversize]: 2,
  });
  assert.equal(b.socket.frames.length, 1, 'only the full-size frame (an ArrayBuffer) went through');
});

test('a flood is cut by the page\'s rate (frames and bytes), and the rate comes back with time', async () => {
  const clock = new VirtualClock();
  const shared = new SharedSwitch({ clock: clock.now, framesPerSecond: 400, bytesPerSecond: 1 << 20 });
  const a = await joined(shared);
  const b = await joined(shared);
  const frame = ethFrame(BROADCAST, macOf(1, 1)).data;
  for (let i = 0; i < 500; i++) a.page.receive(frame, true);
  assert.equal(b.socket.frames.length, 100, 'a quarter second of burst');
  assert.equal(a.page.drops[R.rateLimit], 400);
  clock.advance(1000);
  a.page.receive(frame, true);
  assert.equal(b.socket.frames.length, 101);
});

test('a flood of full-size frames is cut by the page\'s byte rate', async () => {
  const clock = new VirtualClock();
  const shared = new SharedSwitch({ clock: clock.now, framesPerSecond: 100_000, bytesPerSecond: 1 << 20 });
  const a = await joined(shared);
  const b = await joined(shared);
  // 1 MiB/s: a quarter second's burst is 256 KiB, 173 frames of 1514 bytes.
  const big = ethFrame(BROADCAST, macOf(1, 1), { length: 1514 }).data;
  for (let i = 0; i < 300; i++) a.page.receive(big, true);
  assert.equal(b.socket.frames.length, Math.floor((256 << 10) / 1514));
  assert.equal(a.page.drops[R.rateLimit], 300 - Math.floor((256 << 10) / 1514));
});

test('frames to a page whose socket is backed up are dropped, not queued', async () => {
  const shared = new SharedSwitch({ maxBufferedBytes: 1000 });
  const a = await joined(shared);
  const b = await joined(shared);
  b.socket.bufferedAmount = 5000;
  a.page.receive(ethFrame(BROADCAST, macOf(1, 1)).data, true);
  assert.equal(b.socket.frames.length, 0);
  assert.equal(b.page.drops[R.sendBacklog], 1);
});

test('a page leaving runs the stop order for its port; its number is free again; the switch takes no more pages than allowed', async () => {
  const shared = new SharedSwitch({ maxPages: 2 });
  const a = await joined(shared);
  await joined(shared);
  assert.throws(() => shared.admit(new RecordingPageSocket(), { origin: 'o', address: 'a' }), SharedSwitchFullError);
  const oids = recordOids(shared.switch);
  const portId = a.page.portId!;
  await a.page.leave();
  assert.deepEqual(oids, [`NIC_DISCONNECT:${portId}`, `NIC_DELETE:${portId}`, `PORT_TEARDOWN:${portId}`, `PORT_DELETE:${portId}`]);
  assert.equal(shared.switch.port(portId), undefined);
  assert.equal(a.page.state, 'left');
  a.page.receive(ethFrame(BROADCAST, macOf(1, 1)).data, true);
  assert.equal(a.page.drops[R.notConnected], 1);
  const again = await joined(shared);
  assert.equal(again.page.number, 1);
});

test('a page leaving while it joins still ends with no port', async () => {
  const shared = new SharedSwitch();
  const page = shared.admit(new RecordingPageSocket(), { origin: 'o', address: 'a' });
  await page.leave();
  assert.equal(shared.switch.ports().length, 0);
  assert.equal(shared.pages.size, 0);
});

test('two page switches with a VM each talk through the shared switch; a page closing runs its port\'s stop order on the server', async () => {
  const shared = new SharedSwitch();
  const pages = [];
  for (let i = 0; i < 2; i++) {
    const { browser, page } = linkPage(shared);
    const connection = await connectSharedSwitch('ws://x/shared', () => browser);
    const sw = new Switch({ name: `page ${i + 1}` });
    const external = await connection.attach(new Lab({ switch: sw }));
    const vm = new ScriptedNic('virtio', parseMac(connection.addressing.macFor(1, 0)), true);
    const attachment = await SwitchPortAttachment.attach(sw, vm, { vmName: 'a', index: 0 });
    await attachment.settled();
    pages.push({ browser, page, connection, sw, external, vm });
  }
  const [one, two] = pages as [(typeof pages)[0], (typeof pages)[0]];
  assert.equal(one.connection.addressing.ipFor(1), '10.0.1.1');
  assert.equal(two.connection.addressing.ipFor(1), '10.0.2.1');
  assert.notEqual(one.connection.addressing.macFor(1, 0), two.connection.addressing.macFor(1, 0));
  one.vm.send(ethFrame(BROADCAST, one.vm.mac));
  await settle();
  two.vm.send(ethFrame(one.vm.mac, two.vm.mac));
  await settle();
  assert.equal(two.vm.received.length, 1, 'the broadcast from page 1 reached page 2\'s VM');
  assert.equal(one.vm.received.length, 1, 'the unicast answer came back');
  assert.deepEqual(one.vm.received[0]!.data.subarray(6, 12), two.vm.mac);

  const oids = recordOids(shared.switch);
  const portId = one.page.portId!;
  const pageOids = recordOids(one.sw);
  one.browser.close();
  await settle();
  await one.page.settled();
  assert.deepEqual(oids, [`NIC_DISCONNECT:${portId}`, `NIC_DELETE:${portId}`, `PORT_TEARDOWN:${portId}`, `PORT_DELETE:${portId}`]);
  // The page's own external port went down too (its stop order on the page's switch).
  assert.deepEqual(pageOids.map((o) => o.split(':')[0]), ['NIC_DISCONNECT', 'NIC_DELETE', 'PORT_TEARDOWN', 'PORT_DELETE']);
  assert.equal(shared.pages.size, 1);
});

test('the page\'s Lab takes its VMs\' MACs and addresses from the hello: two pages\' first VMs differ and reach each other', async () => {
  const shared = new SharedSwitch();
  const pages = [];
  for (let i = 0; i < 2; i++) {
    const { browser } = linkPage(shared);
    const connection = await connectSharedSwitch('ws://x/shared', () => browser);
    const { launch, guests } = scriptedLaunch();
    const lab = new Lab({ launch });
    await connection.attach(lab);
    // As the page does: VM number 1 is the page's first VM.
    await lab.start('a', { nics: connection.addressing.nics(1, ['e1000', 'virtio']) });
    pages.push({ lab, guest: guests.get('a')! });
  }
  const [one, two] = pages as [(typeof pages)[0], (typeof pages)[0]];
  assert.deepEqual(pages.map((p) => p.guest.launch.nics.map((n) => n.mac)), [['0a:76:6d:01:01:00', '0a:76:6d:01:01:01'], ['0a:76:6d:02:01:00', '0a:76:6d:02:01:01']]);
  assert.deepEqual(pages.map((p) => p.guest.launch.ip), [['10.0.1.1/16', '-'], ['10.0.2.1/16', '-']]);
  assert.deepEqual(pages.map((p) => p.lab.hosts()), [{ a: '10.0.1.1' }, { a: '10.0.2.1' }]);
  // The shared switch lets these MACs through (its own prefix per page): a broadcast and its unicast answer cross.
  const [nicOne, nicTwo] = [one.guest.nics[0]!, two.guest.nics[0]!];
  nicOne.send(ethFrame(BROADCAST, nicOne.mac));
  await settle();
  assert.equal(nicTwo.received.length, 1, 'the broadcast from page 1 reached page 2\'s VM');
  nicTwo.send(ethFrame(nicOne.mac, nicTwo.mac));
  await settle();
  assert.deepEqual(nicOne.received.at(-1)!.data.subarray(6, 12), nicTwo.mac);
  assert.deepEqual(shared.drops, {}, 'no frame of either page was dropped');
  for (const page of pages) await page.lab.close();
  await settle();
  assert.equal(shared.pages.size, 0, 'closing a page\'s lab closes its socket and the server runs its port\'s stop order');
});

test('one client address cannot take every page number', async () => {
  const shared = new SharedSwitch({ maxPages: 4, maxPagesPerAddress: 2 });
  const from = (address: string) => shared.admit(new RecordingPageSocket(), { origin: 'o', address });
  from('192.0.2.1:1000');
  from('192.0.2.1:1001');
  assert.throws(() => from('192.0.2.1:1002'), /2 pages from 192\.0\.2\.1/);
  from('::1:1000');
  assert.equal(shared.fullFor('192.0.2.1'), true);
  assert.equal(shared.fullFor('::1'), false);
  from('::1:1001');
  assert.equal(shared.fullFor('198.51.100.7'), true, 'all four taken');
});

test('a page whose join is vetoed is told (1011) and leaves no port behind', async () => {
  const shared = new SharedSwitch();
  const veto = new RecordingExtension('no-pages', 'filter');
  veto.vetoes.add('OID_SWITCH_NIC_CREATE');
  shared.switch.addExtension(veto);
  const socket = new RecordingPageSocket();
  const page = shared.admit(socket, { origin: 'o', address: 'a' });
  await page.settled();
  await settle();
  await page.settled();
  assert.equal(socket.closed?.code, 1011);
  assert.equal(socket.sent.length, 0, 'no hello');
  assert.equal(shared.switch.ports().length, 0);
  assert.equal(shared.pages.size, 0);
});
