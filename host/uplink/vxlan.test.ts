import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ethFrame, ipv4Frame, mac, BROADCAST, VirtualClock } from '../testing.ts';
import { UPLINK_DROP_REASONS } from '../drop-reasons.ts';
import {
  SOURCE_PORT_MIN,
  VxlanConfigError,
  VxlanEndpoint,
  flowSourcePort,
  parseVxlanSpec,
  readVni,
  vxlanHeader,
  vxlanProblem,
  type UdpEndpoint,
  type VxlanConfig,
} from './vxlan.ts';

const local: UdpEndpoint = { address: '127.0.0.1', port: 4789, family: 4 };
const peerA: UdpEndpoint = { address: '127.0.0.2', port: 4789, family: 4 };
const peerB: UdpEndpoint = { address: '127.0.0.3', port: 4789, family: 4 };

function datagram(vni: number, frame: Uint8Array, flags = 0x08): Uint8Array {
  const out = new Uint8Array(8 + frame.length);
  out.set(vxlanHeader(vni));
  out[0] = flags;
  out.set(frame, 8);
  return out;
}

function endpoint(config: Partial<VxlanConfig> = {}, clock = new VirtualClock()) {
  const sent: { peer: string; header: Uint8Array; frame: Uint8Array; sourcePort: number }[] = [];
  const ep = new VxlanEndpoint({ vni: 42, local, peers: [peerA, peerB], ...config }, (peer, header, frame, sourcePort) => {
    sent.push({ peer: peer.address, header, frame, sourcePort });
    return true;
  }, clock.now);
  return { ep, sent, clock };
}

test('the header: I flag, 24-bit VNI, reserved bytes zero', () => {
  assert.deepEqual([...vxlanHeader(0xabcdef)], [0x08, 0, 0, 0, 0xab, 0xcd, 0xef, 0]);
  assert.equal(readVni(vxlanHeader(0xffffff)), 0xffffff);
  assert.equal(readVni(vxlanHeader(1)), 1);
});

test('hostile datagrams: each check has its reason; reserved bits are ignored', () => {
  const frame = ethFrame(mac(2), mac(1)).data;
  assert.equal(vxlanProblem(datagram(42, frame), 42, 1450), null);
  assert.equal(vxlanProblem(datagram(42, frame).subarray(0, 7), 42, 1450), UPLINK_DROP_REASONS.vxlanTruncated);
  assert.equal(vxlanProblem(datagram(42, frame).subarray(0, 8 + 13), 42, 1450), UPLINK_DROP_REASONS.vxlanTruncated);
  assert.equal(vxlanProblem(datagram(42, frame, 0x00), 42, 1450), UPLINK_DROP_REASONS.vxlanNoVniFlag);
  assert.equal(vxlanProblem(datagram(42, frame, 0xff), 42, 1450), null, 'other flag bits are reserved: ignored');
  assert.equal(vxlanProblem(datagram(43, frame), 42, 1450), UPLINK_DROP_REASONS.vxlanUnknownVni);
  assert.equal(vxlanProblem(datagram(42, ethFrame(mac(2), mac(1), { length: 1450 + 18 }).data), 42, 1450), null);
  assert.equal(vxlanProblem(datagram(42, ethFrame(mac(2), mac(1), { length: 1450 + 19 }).data), 42, 1450), UPLINK_DROP_REASONS.oversize);
  assert.equal(vxlanProblem(datagram(42, ethFrame(mac(2), BROADCAST).data), 42, 1450), UPLINK_DROP_REASONS.multicastSource);
});

test('receive: the allowlist first, then the checks; drops are counted, nothing thrown', () => {
  const { ep } = endpoint();
  const frame = ethFrame(mac(2), mac(1)).data;
  assert.equal(ep.receive(datagram(42, frame), '127.0.0.9', 4789), null, 'spoofed source');
  assert.equal(ep.receive(datagram(43, frame), '127.0.0.2', 50000), null);
  assert.equal(ep.receive(new Uint8Array(3), '127.0.0.2', 50000), null);
  const got = ep.receive(datagram(42, frame), '127.0.0.2', 50000);
  assert.deepEqual([...got!.data], [...frame]);
  assert.deepEqual(ep.drops, { 'uplink-unknown-peer': 1, 'vxlan-unknown-vni': 1, 'vxlan-truncated': 1 });
  assert.deepEqual(ep.counters, { txFrames: 0, txDatagrams: 0, rxDatagrams: 4, rxFrames: 1 });
});

test('head-end replication of BUM traffic; unicast to a learned MAC goes to its VTEP only; learning ages out', () => {
  const { ep, sent, clock } = endpoint({ agingMs: 1000 });
  ep.send([ethFrame(BROADCAST, mac(1))]);
  assert.deepEqual(sent.map((s) => s.peer), ['127.0.0.2', '127.0.0.3'], 'broadcast to every peer');
  sent.length = 0;
  ep.send([ethFrame(mac(7), mac(1))]);
  assert.deepEqual(sent.map((s) => s.peer), ['127.0.0.2', '127.0.0.3'], 'unknown unicast flooded');
  ep.receive(datagram(42, ethFrame(mac(1), mac(7)).data), '127.0.0.3', 60000);
  sent.length = 0;
  ep.send([ethFrame(mac(7), mac(1))]);
  assert.deepEqual(sent.map((s) => s.peer), ['127.0.0.3'], 'learned: one datagram');
  assert.deepEqual(ep.learnedMacs().map((l) => [l.mac, l.peer]), [['02:00:00:00:00:07', '127.0.0.3:4789']]);
  ep.send([ethFrame(Uint8Array.of(0x01, 0, 0x5e, 0, 0, 1), mac(1))]);
  assert.equal(sent.length, 3, 'multicast flooded');
  clock.advance(1001);
  sent.length = 0;
  ep.send([ethFrame(mac(7), mac(1))]);
  assert.equal(sent.length, 2, 'aged out: flooded again');
  assert.deepEqual([...sent[0]!.header], [...vxlanHeader(42)]);
});

test('learning is bounded; two peers at one address are told apart by port or not learned', () => {
  const { ep, sent } = endpoint({ maxLearned: 2, peers: [peerA, { ...peerA, port: 4790 }] });
  ep.receive(datagram(42, ethFrame(mac(1), mac(11)).data), '127.0.0.2', 4790);
  ep.receive(datagram(42, ethFrame(mac(1), mac(12)).data), '127.0.0.2', 55555);
  ep.receive(datagram(42, ethFrame(mac(1), mac(13)).data), '127.0.0.2', 4789);
  ep.receive(datagram(42, ethFrame(mac(1), mac(14)).data), '127.0.0.2', 4789);
  assert.deepEqual(ep.learnedMacs().map((l) => [l.mac, l.peer]), [
    ['02:00:00:00:00:0b', '127.0.0.2:4790'],
    ['02:00:00:00:00:0d', '127.0.0.2:4789'],
  ]);
  ep.send([ethFrame(mac(12), mac(1))]);
  assert.equal(sent.length, 2);
});

test('the outer source port: in 49152-65535, the same for a flow, spread over flows', () => {
  const ports = new Set<number>();
  for (let sport = 1000; sport < 1100; sport++) {
    const frame = ipv4Frame(mac(2), mac(1), { src: '10.0.0.1', dst: '10.0.0.2', protocol: 6, sport, dport: 80 }).data;
    const port = flowSourcePort(frame);
    assert.ok(port >= SOURCE_PORT_MIN && port <= 65535);
    assert.equal(flowSourcePort(frame.slice()), port);
    ports.add(port);
  }
  assert.ok(ports.size > 90, `${ports.size} distinct ports for 100 flows`);
  assert.ok(flowSourcePort(new Uint8Array(3)) >= SOURCE_PORT_MIN);
});

test('--vxlan syntax: defaults, IPv6 in brackets, one-line errors', () => {
  const config = parseVxlanSpec('42@4789=127.0.0.2:4789,127.0.0.3:4790');
  assert.deepEqual(config, { vni: 42, local: { address: '127.0.0.1', port: 4789, family: 4 }, peers: [peerA, { ...peerB, port: 4790 }] });
  const v6 = parseVxlanSpec('7@[::1]:4789=[::1]:4790');
  assert.equal(v6.local.family, 6);
  assert.equal(v6.peers[0]!.address, '0:0:0:0:0:0:0:1');
  assert.equal(parseVxlanSpec('1@10.1.2.3:5000=10.1.2.4:5000').local.address, '10.1.2.3');
  for (const bad of ['42', '42@4789', 'x@4789=127.0.0.2:4789', '16777216@4789=127.0.0.2:4789', '42@99999=127.0.0.2:4789', '42@4789=127.0.0.2', '42@4789=::1:4789', '42@4789=[::1]:4789', '42@4789=127.0.0.1:4789', '42@4789=1.2.3.4:1,1.2.3.4:1', '42@4789=300.1.1.1:4789']) {
    assert.throws(() => parseVxlanSpec(bad), (error: Error) => error instanceof VxlanConfigError && !error.message.includes('\n'), bad);
  }
});
