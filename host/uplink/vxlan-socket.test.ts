// Two VTEPs on loopback with real sockets, and a hostile sender.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { freeUdpPort } from './udp-testing.ts';
import type { Frame } from '../../emulator/net/frame.ts';
import { BROADCAST, ethFrame, mac } from '../testing.ts';
import { VxlanSocketError, VxlanSocketUplink } from './vxlan-socket.ts';
import { parseVxlanSpec, vxlanHeader } from './vxlan.ts';

function until(check: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const poll = (): void => {
      if (check()) resolve();
      else if (Date.now() > end) reject(new Error('timed out'));
      else setTimeout(poll, 5);
    };
    poll();
  });
}


for (const [family, host] of [['IPv4', '127.0.0.1'], ['IPv6', '::1']] as const) {
  test(`two VTEPs over ${family} loopback: frames both ways, from hashed source ports in 49152-65535`, async () => {
    const [pa, pb] = [await freeUdpPort(host), await freeUdpPort(host)];
    const at = (port: number) => (family === 'IPv6' ? `[${host}]:${port}` : `${host}:${port}`);
    const a = await VxlanSocketUplink.open(parseVxlanSpec(`42@${at(pa)}=${at(pb)}`));
    const b = await VxlanSocketUplink.open(parseVxlanSpec(`42@${at(pb)}=${at(pa)}`));
    try {
      for (const port of a.sourcePorts) assert.ok(port >= 49152 && port <= 65535);
      const gotA: Frame[] = [];
      const gotB: Frame[] = [];
      a.setReceiver({ deliver: (f) => gotA.push(...f) });
      b.setReceiver({ deliver: (f) => gotB.push(...f) });
      a.send([ethFrame(BROADCAST, mac(1), { seq: 7 })]);
      await until(() => gotB.length === 1);
      assert.deepEqual([...gotB[0]!.data], [...ethFrame(BROADCAST, mac(1), { seq: 7 }).data]);
      b.send([ethFrame(mac(1), mac(2), { length: a.mtu + 14 })]);
      await until(() => gotA.length === 1);
      assert.equal(gotA[0]!.data.length, a.mtu + 14);
      assert.equal(a.mtu, family === "IPv6" ? 1430 : 1450);
      assert.deepEqual(b.endpoint.learnedMacs().map((l) => l.mac), ['02:00:00:00:00:01']);
      assert.deepEqual(a.drops(), {});
    } finally {
      await a.close();
      await b.close();
    }
  });
}

test('hostile datagrams on the socket are dropped and counted; a spoofed source is not a peer', async () => {
  const [pa, pb] = [await freeUdpPort(), await freeUdpPort()];
  const a = await VxlanSocketUplink.open(parseVxlanSpec(`42@${pa}=127.0.0.1:${pb}`));
  const got: Frame[] = [];
  a.setReceiver({ deliver: (f) => got.push(...f) });
  // A sender on another loopback address (not the peer) and one on the peer's address.
  const stranger = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => stranger.bind(0, '127.0.0.5', resolve));
  const peerSide = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => peerSide.bind(pb, '127.0.0.1', resolve));
  const frame = ethFrame(mac(1), mac(2)).data;
  const dg = (header: Uint8Array, body: Uint8Array) => {
    const out = new Uint8Array(header.length + body.length);
    out.set(header);
    out.set(body, header.length);
    return out;
  };
  try {
    stranger.send(dg(vxlanHeader(42), frame), pa, '127.0.0.1');
    peerSide.send(new Uint8Array(5), pa, '127.0.0.1');
    peerSide.send(dg(Uint8Array.of(0, 0, 0, 0, 0, 0, 42, 0), frame), pa, '127.0.0.1');
    peerSide.send(dg(vxlanHeader(43), frame), pa, '127.0.0.1');
    peerSide.send(dg(vxlanHeader(42), new Uint8Array(9000)), pa, '127.0.0.1');
    peerSide.send(dg(vxlanHeader(42), frame), pa, '127.0.0.1');
    await until(() => a.endpoint.counters.rxDatagrams === 6);
    assert.equal(got.length, 1);
    assert.deepEqual(a.drops(), { 'uplink-unknown-peer': 1, 'vxlan-truncated': 1, 'vxlan-no-vni-flag': 1, 'vxlan-unknown-vni': 1, 'uplink-oversize': 1 });
  } finally {
    stranger.close();
    peerSide.close();
    await a.close();
  }
});

test('a port in use or an address that is not local is a VxlanSocketError', async () => {
  const port = await freeUdpPort();
  const a = await VxlanSocketUplink.open(parseVxlanSpec(`1@${port}=127.0.0.2:4789`));
  try {
    await assert.rejects(VxlanSocketUplink.open(parseVxlanSpec(`1@${port}=127.0.0.2:4789`)), (e: Error) => e instanceof VxlanSocketError && /EADDRINUSE/.test(e.message));
    await assert.rejects(VxlanSocketUplink.open(parseVxlanSpec(`1@192.0.2.1:${port}=127.0.0.2:4789`)), (e: Error) => e instanceof VxlanSocketError && /EADDRNOTAVAIL/.test(e.message));
  } finally {
    await a.close();
  }
  assert.equal(a.isUp, false);
});

test('the external port over a real socket: NIC_CONNECT once bound, the stop order when the socket closes', async () => {
  const { Switch } = await import('../switch.ts');
  const { ExternalPort } = await import('./external-port.ts');
  const sw = new Switch();
  const oids: string[] = [];
  sw.on('oid', (e) => oids.push(e.oid.replace('OID_SWITCH_', '')));
  const uplink = await VxlanSocketUplink.open(parseVxlanSpec(`9@${await freeUdpPort()}=127.0.0.2:4789`));
  const port = await ExternalPort.attach(sw, uplink);
  assert.deepEqual(oids, ['PORT_CREATE', 'NIC_CREATE', 'NIC_CONNECT']);
  assert.equal(sw.nic(port.portId!, 0)?.mtu, 1450);
  await uplink.close();
  await port.settled();
  assert.deepEqual(oids.slice(3), ['NIC_DISCONNECT', 'NIC_DELETE', 'PORT_TEARDOWN', 'PORT_DELETE']);
  assert.equal(sw.ports().length, 0);
});
