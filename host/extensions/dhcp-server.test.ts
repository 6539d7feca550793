import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Frame } from '../../emulator/net/frame.ts';
import { Switch } from '../switch.ts';
import { FakeClock } from '../clock.ts';
import { DhcpConfigError, DhcpServerExtension } from './dhcp-server.ts';
import type { DhcpServerOptions } from './dhcp-server.ts';
import { parseDhcp } from './dhcp-message.ts';
import { DhcpGuard } from './guards.ts';
import { MacLearningForwarder } from './mac-learning.ts';
import { BROADCAST, attachVm, mac } from '../testing.ts';
import { checksum, sumBytes } from '../../emulator/net/checksum.ts';

const ip4 = (s: string): number[] => s.split('.').map(Number);

/** A client's DHCP message in a frame, built byte by byte (RFC 2131 layout). */
function clientFrame(m: { type: number; chaddr: Uint8Array; xid?: number; flags?: number; ciaddr?: string; requested?: string; serverId?: string; dstIp?: string; vlan?: number; extra?: number[] }): Frame {
  const options = [99, 130, 83, 99, 53, 1, m.type];
  if (m.requested) options.push(50, 4, ...ip4(m.requested));
  if (m.serverId) options.push(54, 4, ...ip4(m.serverId));
  options.push(55, 3, 1, 3, 6, ...(m.extra ?? []), 255);
  const bootp = new Uint8Array(236 + options.length);
  bootp[0] = 1;
  bootp[1] = 1;
  bootp[2] = 6;
  new DataView(bootp.buffer).setUint32(4, m.xid ?? 0x1234abcd);
  new DataView(bootp.buffer).setUint16(10, m.flags ?? 0);
  if (m.ciaddr) bootp.set(ip4(m.ciaddr), 12);
  bootp.set(m.chaddr, 28);
  bootp.set(options, 236);
  const tagged = m.vlan !== undefined;
  const l2 = tagged ? 18 : 14;
  const data = new Uint8Array(l2 + 20 + 8 + bootp.length);
  data.set(BROADCAST, 0);
  data.set(m.chaddr, 6);
  if (tagged) data.set([0x81, 0x00, 0, m.vlan!], 12);
  data.set([0x08, 0x00], l2 - 2);
  const dv = new DataView(data.buffer);
  data[l2] = 0x45;
  dv.setUint16(l2 + 2, 20 + 8 + bootp.length);
  data[l2 + 8] = 64;
  data[l2 + 9] = 17;
  data.set(m.ciaddr ? ip4(m.ciaddr) : [0, 0, 0, 0], l2 + 12);
  data.set(ip4(m.dstIp ?? '255.255.255.255'), l2 + 16);
  dv.setUint16(l2 + 20, 68);
  dv.setUint16(l2 + 22, 67);
  dv.setUint16(l2 + 24, 8 + bootp.length);
  data.set(bootp, l2 + 28);
  return { data };
}

interface Reply {
  dstMac: string;
  srcIp: string;
  dstIp: string;
  sport: number;
  dport: number;
  op: number;
  xid: number;
  yiaddr: string;
  chaddr: string;
  options: Map<number, number[]>;
  ipChecksumOk: boolean;
  udpChecksumOk: boolean;
}

/** Reads a server reply from its bytes, without the code under test. */
function readReply(f: Frame): Reply {
  const d = f.data;
  const dv = new DataView(d.buffer, d.byteOffset);
  assert.equal(dv.getUint16(12), 0x0800);
  const ipText = (o: number) => [...d.subarray(o, o + 4)].join('.');
  const b = 14 + 20 + 8;
  const options = new Map<number, number[]>();
  for (let i = b + 240; i < d.length && d[i] !== 255; ) {
    if (d[i] === 0) {
      i++;
      continue;
    }
    options.set(d[i]!, [...d.subarray(i + 2, i + 2 + d[i + 1]!)]);
    i += 2 + d[i + 1]!;
  }
  return {
    dstMac: [...d.subarray(0, 6)].map((x) => x.toString(16).padStart(2, '0')).join(':'),
    srcIp: ipText(26),
    dstIp: ipText(30),
    sport: dv.getUint16(34),
    dport: dv.getUint16(36),
    op: d[b]!,
    xid: dv.getUint32(b + 4),
    yiaddr: ipText(b + 16),
    chaddr: [...d.subarray(b + 28, b + 34)].map((x) => x.toString(16).padStart(2, '0')).join(':'),
    options,
    ipChecksumOk: checksum(d, 14, 34) === 0,
    // Over the pseudo-header (addresses, protocol, UDP length) and the datagram: 0 when right.
    udpChecksumOk: checksum(d, 34, d.length, sumBytes(d, 26, 34) + 17 + (d.length - 34)) === 0,
  };
}

const BASE: DhcpServerOptions = {
  serverIp: '10.0.1.1',
  subnet: '10.0.1.0/24',
  gateway: '10.0.1.254',
  dns: ['10.0.1.53'],
  leaseSeconds: 600,
  reservations: [{ mac: '02:00:00:00:00:01', ip: '10.0.1.10' }],
  pool: { from: '10.0.1.100', to: '10.0.1.102' },
};

async function dhcpLab(options: Partial<DhcpServerOptions> = {}) {
  const clock = new FakeClock();
  const server = new DhcpServerExtension({ ...BASE, ...options });
  const sw = new Switch({ timers: clock, extensions: [server, new MacLearningForwarder()] });
  const a = await attachVm(sw, 1);
  const b = await attachVm(sw, 2);
  return { clock, server, sw, a, b };
}

test('DISCOVER -> OFFER, REQUEST -> ACK for a reserved MAC, with mask, router, DNS, lease times and server id', async () => {
  const { server, sw, a, b } = await dhcpLab();
  sw.ingress(a.portId, 0, [clientFrame({ type: 1, chaddr: a.mac, xid: 77 })]);
  // b sees the client's broadcast; only a gets the reply.
  assert.equal(b.sink.frames.length, 1);
  assert.equal(a.sink.frames.length, 1);
  const offer = readReply(a.sink.frames[0]!);
  assert.equal(offer.op, 2);
  assert.equal(offer.xid, 77);
  assert.equal(offer.yiaddr, '10.0.1.10');
  assert.equal(offer.chaddr, '02:00:00:00:00:01');
  assert.equal(offer.dstMac, '02:00:00:00:00:01');
  assert.equal(offer.srcIp, '10.0.1.1');
  assert.deepEqual([offer.sport, offer.dport], [67, 68]);
  assert.ok(offer.ipChecksumOk);
  assert.ok(offer.udpChecksumOk, 'busybox udhcpc checks it in raw-socket mode');
  assert.deepEqual(offer.options.get(53), [2]);
  assert.deepEqual(offer.options.get(54), [10, 0, 1, 1]);
  assert.deepEqual(offer.options.get(1), [255, 255, 255, 0]);
  assert.deepEqual(offer.options.get(3), [10, 0, 1, 254]);
  assert.deepEqual(offer.options.get(6), [10, 0, 1, 53]);
  assert.deepEqual(offer.options.get(51), [0, 0, 2, 88]);
  assert.deepEqual(offer.options.get(58), [0, 0, 1, 44]);
  assert.deepEqual(offer.options.get(59), [0, 0, 2, 13]);
  a.sink.clear();
  sw.ingress(a.portId, 0, [clientFrame({ type: 3, chaddr: a.mac, xid: 78, requested: '10.0.1.10', serverId: '10.0.1.1' })]);
  const ack = readReply(a.sink.frames[0]!);
  assert.deepEqual(ack.options.get(53), [5]);
  assert.equal(ack.yiaddr, '10.0.1.10');
  assert.deepEqual(server.leaseTable().map((l) => [l.mac, l.ip, l.state]), [['02:00:00:00:00:01', '10.0.1.10', 'bound']]);
  assert.deepEqual(server.counters().sent, { offer: 1, ack: 1, nak: 0 });
  // The replies are the switch's own frames.
  assert.equal(sw.counters().injectedFrames, 2);
});

test('pool clients get distinct addresses; a full pool stays silent; the broadcast bit broadcasts the reply', async () => {
  const { server, sw, a } = await dhcpLab();
  const got: string[] = [];
  for (let n = 0; n < 4; n++) {
    a.sink.clear();
    const chaddr = mac(0x50 + n, 0x06);
    sw.ingress(a.portId, 0, [clientFrame({ type: 1, chaddr, flags: 0x8000 })]);
    if (a.sink.frames.length === 0) {
      got.push('none');
      continue;
    }
    const offer = readReply(a.sink.frames[0]!);
    assert.equal(offer.dstMac, 'ff:ff:ff:ff:ff:ff');
    assert.equal(offer.dstIp, '255.255.255.255');
    got.push(offer.yiaddr);
  }
  assert.deepEqual(got, ['10.0.1.100', '10.0.1.101', '10.0.1.102', 'none']);
  assert.equal(server.counters().ignored, 1);
});

test('REQUEST for the wrong address gets a NAK; a client that chose another server releases our offer', async () => {
  const { server, sw, a } = await dhcpLab();
  const c = mac(0x60, 0x06);
  sw.ingress(a.portId, 0, [clientFrame({ type: 1, chaddr: c })]);
  a.sink.clear();
  sw.ingress(a.portId, 0, [clientFrame({ type: 3, chaddr: c, requested: '10.0.1.101', serverId: '10.0.1.1' })]);
  const nak = readReply(a.sink.frames[0]!);
  assert.deepEqual(nak.options.get(53), [6]);
  assert.equal(nak.dstMac, 'ff:ff:ff:ff:ff:ff');
  assert.equal(nak.options.has(51), false);
  a.sink.clear();
  sw.ingress(a.portId, 0, [clientFrame({ type: 3, chaddr: c, requested: '10.0.1.100', serverId: '10.0.1.99' })]);
  assert.equal(a.sink.frames.length, 0);
  assert.deepEqual(server.leaseTable(), []);
  // INIT-REBOOT off the subnet: NAK; from an unknown client on it: silence.
  sw.ingress(a.portId, 0, [clientFrame({ type: 3, chaddr: c, requested: '192.168.9.9' })]);
  assert.deepEqual(readReply(a.sink.frames[0]!).options.get(53), [6]);
  a.sink.clear();
  sw.ingress(a.portId, 0, [clientFrame({ type: 3, chaddr: c, requested: '10.0.1.100' })]);
  assert.equal(a.sink.frames.length, 0);
});

test('renewal is unicast to the client, the lease expires on the switch clock, and RELEASE frees the address', async () => {
  const { clock, server, sw, a } = await dhcpLab();
  const c = mac(0x70, 0x06);
  sw.ingress(a.portId, 0, [clientFrame({ type: 1, chaddr: c })]);
  sw.ingress(a.portId, 0, [clientFrame({ type: 3, chaddr: c, requested: '10.0.1.100', serverId: '10.0.1.1' })]);
  a.sink.clear();
  clock.advance(300_000);
  sw.ingress(a.portId, 0, [clientFrame({ type: 3, chaddr: c, ciaddr: '10.0.1.100', dstIp: '10.0.1.1' })]);
  const ack = readReply(a.sink.frames[0]!);
  assert.deepEqual(ack.options.get(53), [5]);
  assert.equal(ack.dstIp, '10.0.1.100');
  clock.advance(599_000);
  assert.equal(server.leaseTable().length, 1);
  clock.advance(2_000);
  assert.equal(server.leaseTable().length, 0, 'expired');
  // Expired, but nobody took it: the same client gets it again; then RELEASE gives it to the next.
  a.sink.clear();
  sw.ingress(a.portId, 0, [clientFrame({ type: 1, chaddr: c })]);
  assert.equal(readReply(a.sink.frames[0]!).yiaddr, '10.0.1.100');
  sw.ingress(a.portId, 0, [clientFrame({ type: 3, chaddr: c, requested: '10.0.1.100', serverId: '10.0.1.1' })]);
  sw.ingress(a.portId, 0, [clientFrame({ type: 7, chaddr: c, ciaddr: '10.0.1.100', serverId: '10.0.1.1', dstIp: '10.0.1.1' })]);
  a.sink.clear();
  sw.ingress(a.portId, 0, [clientFrame({ type: 1, chaddr: mac(0x71, 0x06) })]);
  assert.equal(readReply(a.sink.frames[0]!).yiaddr, '10.0.1.100');
});

test('a request in a VLAN is answered in that VLAN (tagged on a trunk); the vlan option restricts the server', async () => {
  const { sw, a } = await dhcpLab({ vlan: 10 });
  await sw.addPortProperty(a.portId, { type: 'vlan', mode: 'trunk', allowed: [10, 20] });
  sw.ingress(a.portId, 0, [clientFrame({ type: 1, chaddr: a.mac, vlan: 20 })]);
  assert.equal(a.sink.frames.length, 0, 'VLAN 20 is not served');
  sw.ingress(a.portId, 0, [clientFrame({ type: 1, chaddr: a.mac, vlan: 10 })]);
  const f = a.sink.frames[0]!;
  assert.deepEqual([f.data[12], f.data[13], f.data[15]], [0x81, 0x00, 10]);
});

test('hostile DHCP input is dropped and counted, never thrown', async () => {
  const { server, sw, a, b } = await dhcpLab();
  const good = clientFrame({ type: 1, chaddr: a.mac }).data;
  const cut = { data: good.slice(0, 14 + 20 + 8 + 100) };
  const badCookie = { data: good.slice() };
  badCookie.data[14 + 28 + 236] = 0;
  const overflow = clientFrame({ type: 1, chaddr: a.mac, extra: [12, 200] });
  const noType = { data: good.slice() };
  noType.data[14 + 28 + 240] = 12; // option 53 -> 12 (hostname, length 1)
  const wrongLength = clientFrame({ type: 1, chaddr: a.mac, extra: [53, 2, 1, 1] });
  const badOverload = clientFrame({ type: 1, chaddr: a.mac, extra: [52, 1, 9] });
  sw.ingress(a.portId, 0, [cut, badCookie, overflow, noType, badOverload]);
  assert.equal(a.sink.frames.length, 0);
  assert.equal(b.sink.frames.length, 0);
  assert.equal(sw.counters(a.portId).drops['dhcp-malformed'], 5);
  assert.deepEqual(server.counters().malformed, { 'truncated-ip': 1, 'bad-cookie': 1, 'option-overflow': 1, 'no-message-type': 1, 'bad-overload': 1 });
  // Every instance of a known option is length-checked, a repeated one too.
  sw.ingress(a.portId, 0, [wrongLength]);
  assert.equal(a.sink.frames.length, 0);
  assert.equal(server.counters().malformed['bad-option-length'], 1);
  // A well-formed one still gets its answer after all that.
  sw.ingress(a.portId, 0, [{ data: good }]);
  assert.equal(a.sink.frames.length, 1);
});

test('options carried in the file field (option overload) are read', () => {
  const f = clientFrame({ type: 1, chaddr: mac(1), extra: [52, 1, 1] }).data;
  const bootp = 14 + 28;
  // Move the message type into the file field: the options field then has no option 53 of its own.
  const d = new Uint8Array(f);
  d[bootp + 240] = 12; // rename option 53 to hostname
  d.set([53, 1, 3, 255], bootp + 108);
  const m = parseDhcp(d, bootp, d.length - bootp);
  assert.ok(typeof m !== 'string', String(m));
  assert.equal(m.type, 3);
});

test('bad options are refused with a typed error', () => {
  const bad: Partial<DhcpServerOptions>[] = [
    { subnet: '10.0.1.0' },
    { subnet: '10.0.1.0/31' },
    { serverIp: '10.0.2.1' },
    { gateway: '10.0.1.0' },
    { reservations: [{ mac: 'nope', ip: '10.0.1.5' }] },
    { reservations: [{ mac: '02:00:00:00:00:01', ip: '10.0.1.1' }] },
    { pool: { from: '10.0.1.9', to: '10.0.1.5' } },
    { leaseSeconds: 1 },
    { dns: 'x' },
  ];
  for (const b of bad) assert.throws(() => new DhcpServerExtension({ ...BASE, ...b }), DhcpConfigError, JSON.stringify(b));
});

test('with the DHCP guard, the client gets only the switch server\'s offer; a rogue VM\'s offer is dropped', async () => {
  const server = new DhcpServerExtension(BASE);
  const sw = new Switch({ extensions: [new DhcpGuard(), server, new MacLearningForwarder()] });
  const client = await attachVm(sw, 1);
  const rogue = await attachVm(sw, 2);
  sw.ingress(client.portId, 0, [clientFrame({ type: 1, chaddr: client.mac, flags: 0x8000 })]);
  assert.equal(rogue.sink.frames.length, 1, 'the rogue hears the discover');
  // The rogue answers like udhcpd would: from port 67, broadcast.
  const rogueOffer = client.sink.frames[0]!.data.slice();
  rogueOffer.set(rogue.mac, 6);
  sw.ingress(rogue.portId, 0, [{ data: rogueOffer }]);
  assert.equal(client.sink.frames.length, 1, 'only the switch server\'s offer');
  assert.equal(readReply(client.sink.frames[0]!).srcIp, '10.0.1.1');
  assert.equal(sw.counters(rogue.portId).drops['dhcp-guard'], 1);
});

test('the server answers ARP for its own address (a renewing client unicasts to it), not for others', async () => {
  const { server, sw, a } = await dhcpLab();
  const arp = (target: number[]) => {
    const d = new Uint8Array(42);
    d.set(BROADCAST, 0);
    d.set(a.mac, 6);
    d.set([0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1], 12);
    d.set(a.mac, 22);
    d.set([10, 0, 1, 100], 28);
    d.set(target, 38);
    return { data: d };
  };
  sw.ingress(a.portId, 0, [arp([10, 0, 1, 1]), arp([10, 0, 1, 254])]);
  assert.equal(a.sink.frames.length, 1);
  const r = a.sink.frames[0]!.data;
  assert.deepEqual([...r.subarray(0, 6)], [...a.mac]);
  assert.deepEqual([...r.subarray(12, 14)], [0x08, 0x06]);
  assert.equal(r[21], 2, 'a reply');
  assert.deepEqual([...r.subarray(22, 28)], [0x02, 0x56, 0x4d, 0x44, 0x48, 0x43]);
  assert.deepEqual([...r.subarray(28, 32)], [10, 0, 1, 1]);
  assert.deepEqual([...r.subarray(32, 42)], [...a.mac, 10, 0, 1, 100]);
  assert.equal(server.counters().arpReplies, 1);
});
