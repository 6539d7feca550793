// The shared switch's WebSocket door with real sockets on loopback (the `ws`
// package as the client): who is refused, the hello, a message over the size
// limit, and a closed connection running the page port's stop order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import type { OidEvent } from '../host/events.ts';
import { SHARED_SWITCH_DROP_REASONS as R } from '../host/drop-reasons.ts';
import { BROADCAST, ethFrame } from '../host/testing.ts';
import { parseMac } from '../emulator/net/frame.ts';
import { SHARED_SWITCH_PROTOCOL, pageMac, parseHello, type SharedHello } from '../host/uplink/websocket-protocol.ts';
import { allowedHosts } from './allowed-hosts.ts';
import { startWebServer } from './server.ts';
import { MAX_MESSAGE_BYTES, createSharedSwitchServer, upgradeRefusal } from './shared-switch-server.ts';

interface Client {
  on(event: 'open' | 'unexpected-response' | 'message' | 'close' | 'error', listener: (...args: never[]) => void): void;
  send(data: Uint8Array | string): void;
  close(): void;
  readonly readyState: number;
}
const { WebSocket } = createRequire(import.meta.url)('ws') as {
  WebSocket: new (url: string, protocols: string[], options: { origin?: string; headers?: Record<string, string> }) => Client;
};

const allowLocal = allowedHosts('127.0.0.1');
const request = (headers: Record<string, string>, url = '/shared') => ({ url, headers });

test('upgradeRefusal: path, Host, Origin (same origin only), protocol, room', () => {
  const good = { host: '127.0.0.1:8086', origin: 'http://127.0.0.1:8086', 'sec-websocket-protocol': SHARED_SWITCH_PROTOCOL };
  assert.equal(upgradeRefusal(request(good), allowLocal, false), undefined);
  assert.equal(upgradeRefusal(request({ ...good, host: 'localhost:8086', origin: 'http://localhost:8086' }), allowLocal, false), undefined);
  assert.equal(upgradeRefusal(request({ ...good, 'sec-websocket-protocol': `chat, ${SHARED_SWITCH_PROTOCOL}` }), allowLocal, false), undefined);
  const reason = (headers: Record<string, string>, url?: string, full = false) => upgradeRefusal(request(headers, url), allowLocal, full)?.reason;
  assert.equal(reason(good, '/other'), 'path');
  assert.equal(reason({ ...good, host: 'evil.example:8086' }), 'host');
  const { origin: _origin, ...noOrigin } = good;
  assert.equal(reason(noOrigin), 'origin');
  for (const origin of ['http://evil.example', 'http://127.0.0.1:8087', 'http://localhost:8086', 'null', 'file://', 'chrome-extension://abc', 'http://127.0.0.1:8086/x', 'not a url']) {
    assert.equal(reason({ ...good, origin }), 'origin', origin);
  }
  assert.equal(reason({ ...good, 'sec-websocket-protocol': 'chat' }), 'protocol');
  const { 'sec-websocket-protocol': _p, ...noProtocol } = good;
  assert.equal(reason(noProtocol), 'protocol');
  assert.equal(reason(good, undefined, true), 'full');
});

function connect(url: string, options: { origin?: string; headers?: Record<string, string>; protocols?: string[] }) {
  const ws = new WebSocket(url, options.protocols ?? [SHARED_SWITCH_PROTOCOL], { ...(options.origin ? { origin: options.origin } : {}), ...(options.headers ? { headers: options.headers } : {}) });
  const messages: { data: Uint8Array | string; isBinary: boolean }[] = [];
  ws.on('message', ((data: Uint8Array, isBinary: boolean) => messages.push({ data: isBinary ? data : String(data), isBinary })) as never);
  const outcome = new Promise<{ status?: number; open?: true }>((resolve) => {
    ws.on('open', () => resolve({ open: true }));
    ws.on('unexpected-response', ((_req: unknown, res: { statusCode: number }) => resolve({ status: res.statusCode })) as never);
    ws.on('error', () => resolve({}));
  });
  const closed = new Promise<number>((resolve) => ws.on('close', ((code: number) => resolve(code)) as never));
  return { ws, messages, outcome, closed };
}

const waitFor = async (probe: () => boolean, what: string) => {
  for (let i = 0; i < 200 && !probe(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(probe(), what);
};

test('over real sockets: strangers are refused, a page joins and gets its hello, frames cross, an oversized message ends the page with its stop order', async () => {
  const door = createSharedSwitchServer();
  const server = await startWebServer({ mounts: [], port: 0, upgrade: door.upgrade });
  try {
    const url = `ws://127.0.0.1:${server.port}/shared`;
    const origin = `http://127.0.0.1:${server.port}`;
    assert.equal((await connect(url, {}).outcome).status, 403, 'no Origin');
    assert.equal((await connect(url, { origin: 'http://evil.example' }).outcome).status, 403, 'another site');
    assert.equal((await connect(url, { origin, headers: { Host: 'evil.example' } }).outcome).status, 421, 'a rebound name');
    assert.equal((await connect(url, { origin, protocols: ['chat'] }).outcome).status, 400, 'another protocol');
    assert.equal((await connect(`ws://127.0.0.1:${server.port}/elsewhere`, { origin }).outcome).status, 404);
    assert.deepEqual(door.refused, { origin: 2, host: 1, protocol: 1, path: 1 });
    assert.equal(door.shared.switch.ports().length, 0);

    const one = connect(url, { origin });
    const two = connect(url, { origin });
    assert.deepEqual(await one.outcome, { open: true });
    assert.deepEqual(await two.outcome, { open: true });
    await waitFor(() => one.messages.length === 1 && two.messages.length === 1, 'both hellos');
    const hello = parseHello(one.messages[0]!.data as string) as SharedHello;
    assert.equal(hello.page, 1);
    assert.equal(one.messages[0]!.isBinary, false);
    // Page 1's VM broadcasts; page 2 gets exactly that frame as one binary message.
    const frame = ethFrame(BROADCAST, parseMac(pageMac(1, 1, 0))).data;
    one.ws.send(frame);
    one.ws.send('text is not a frame');
    await waitFor(() => two.messages.length === 2, 'the frame at page 2');
    assert.equal(two.messages[1]!.isBinary, true);
    assert.deepEqual(new Uint8Array(two.messages[1]!.data as Uint8Array), frame);

    const page = door.shared.pages.get(1)!;
    const portId = page.portId!;
    const oids: string[] = [];
    door.shared.switch.on('oid', (e: OidEvent) => e.portId === portId && oids.push(e.oid.replace('OID_SWITCH_', '')));
    one.ws.send(new Uint8Array(MAX_MESSAGE_BYTES + 1));
    assert.equal(await one.closed, 1009);
    await waitFor(() => page.state === 'left', 'page 1 left');
    assert.deepEqual(oids, ['NIC_DISCONNECT', 'NIC_DELETE', 'PORT_TEARDOWN', 'PORT_DELETE']);
    assert.equal(door.shared.drops[R.messageTooLarge], 1);
    assert.equal(door.shared.drops[R.textMessage], 1);
    assert.deepEqual(door.shared.status().pages.map((p) => p.page), [2]);
    two.ws.close();
    await two.closed;
    await waitFor(() => door.shared.pages.size === 0, 'page 2 left');
    assert.equal(door.shared.switch.ports().length, 0);
  } finally {
    await door.close();
    await server.close();
  }
});
