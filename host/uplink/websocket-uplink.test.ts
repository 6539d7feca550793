import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Frame } from '../../emulator/net/frame.ts';
import { SHARED_SWITCH_DROP_REASONS as R, UPLINK_DROP_REASONS } from '../drop-reasons.ts';
import { BROADCAST, ethFrame, mac } from '../testing.ts';
import { FakeBrowserSocket } from './websocket-testing.ts';
import { helloFor, pageMac, parseHello } from './websocket-protocol.ts';
import { SharedSwitchJoinError, WebSocketUplink } from './websocket-uplink.ts';

const settle = () => new Promise((resolve) => setTimeout(resolve, 1));

function openSocket(): FakeBrowserSocket {
  const socket = new FakeBrowserSocket();
  socket.readyState = 1;
  return socket;
}

test('the uplink is down until the hello, then up with its MTU; frames go one per message; it goes down when the socket closes', async () => {
  const socket = openSocket();
  const uplink = new WebSocketUplink(socket);
  const states: boolean[] = [];
  uplink.onStateChange((up) => states.push(up));
  assert.equal(socket.binaryType, 'arraybuffer');
  assert.equal(uplink.isUp, false);
  uplink.send([ethFrame(BROADCAST, mac(1))]);
  assert.equal(socket.sent.length, 0);
  assert.equal(uplink.drops()[UPLINK_DROP_REASONS.notConnected], 1);
  socket.serverSends(JSON.stringify({ ...helloFor(3), mtu: 1400 }));
  const hello = await uplink.hello;
  assert.equal(hello.page, 3);
  assert.equal(uplink.isUp, true);
  assert.equal(uplink.mtu, 1400);
  const frames = [ethFrame(BROADCAST, mac(1)), ethFrame(BROADCAST, mac(2))];
  uplink.send(frames);
  assert.deepEqual(socket.sent, frames.map((f) => f.data));
  socket.close(1001, 'server stopping');
  await settle();
  assert.deepEqual(states, [true, false]);
  assert.equal(uplink.isUp, false);
});

test('hostile server messages are dropped and counted; good frames reach the receiver', async () => {
  const socket = openSocket();
  const uplink = new WebSocketUplink(socket);
  const received: Frame[] = [];
  uplink.setReceiver({ deliver: (frames) => received.push(...frames) });
  socket.serverSends(ethFrame(BROADCAST, mac(1)).data);
  socket.serverSends(JSON.stringify(helloFor(1)));
  await uplink.hello;
  socket.serverSends('more text');
  socket.serverSends(new Uint8Array(0));
  socket.serverSends(new Uint8Array(10));
  socket.serverSends(ethFrame(BROADCAST, mac(1), { length: 1600 }).data);
  socket.serverSends(ethFrame(BROADCAST, mac(2)).data);
  await settle();
  assert.deepEqual(uplink.drops(), { [R.badHello]: 1, [R.textMessage]: 1, [R.emptyMessage]: 1, [R.truncated]: 1, [R.oversize]: 1 });
  assert.equal(received.length, 1);
  assert.deepEqual(received[0]!.data, ethFrame(BROADCAST, mac(2)).data);
});

test('a bad hello or a close before the hello rejects the join', async () => {
  const bad = openSocket();
  const uplink = new WebSocketUplink(bad);
  bad.serverSends(JSON.stringify({ ...helloFor(2), macPrefix: '0a:76:6d:09' }));
  await assert.rejects(uplink.hello, SharedSwitchJoinError);
  assert.equal(uplink.isUp, false);
  const refused = openSocket();
  const other = new WebSocketUplink(refused);
  refused.close(1013, 'the shared switch has its 32 pages');
  await assert.rejects(other.hello, /32 pages/);
});

test('frames are dropped, not buffered, while the socket has too much queued', async () => {
  const socket = openSocket();
  const uplink = new WebSocketUplink(socket, { maxBufferedBytes: 100 });
  socket.serverSends(JSON.stringify(helloFor(1)));
  await uplink.hello;
  socket.bufferedAmount = 101;
  uplink.send([ethFrame(BROADCAST, mac(1))]);
  assert.equal(socket.sent.length, 0);
  assert.equal(uplink.drops()[R.sendBacklog], 1);
});

test('the hello parser refuses what does not add up', () => {
  assert.equal(typeof parseHello('{'), 'string');
  assert.equal(typeof parseHello('null'), 'string');
  assert.equal(typeof parseHello(JSON.stringify({ ...helloFor(1), version: 2 })), 'string');
  assert.equal(typeof parseHello(JSON.stringify({ ...helloFor(1), page: 255 })), 'string');
  assert.equal(typeof parseHello(JSON.stringify({ ...helloFor(1), ipBase: '10.0.2' })), 'string');
  assert.equal(typeof parseHello(JSON.stringify({ ...helloFor(1), mtu: 100 })), 'string');
  assert.deepEqual(parseHello(JSON.stringify(helloFor(7))), helloFor(7));
  assert.equal(pageMac(7, 1, 0), '0a:76:6d:07:01:00');
});
