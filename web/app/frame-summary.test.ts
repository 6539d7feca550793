import { test } from 'node:test';
import assert from 'node:assert/strict';
import { summarizeFrame } from './frame-summary.ts';

const A = [0x02, 0, 0, 0, 0, 0x0a];
const B = [0x02, 0, 0, 0, 0, 0x0b];
const BCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];

function eth(dst: number[], src: number[], type: number, payload: number[]): Uint8Array {
  return Uint8Array.from([...dst, ...src, type >> 8, type & 0xff, ...payload]);
}

function ipv4(proto: number, l4: number[], src = [10, 0, 0, 1], dst = [10, 0, 0, 2], fragment = 0): number[] {
  const total = 20 + l4.length;
  return [0x45, 0, total >> 8, total & 0xff, 0, 1, fragment >> 8, fragment & 0xff, 64, proto, 0, 0, ...src, ...dst, ...l4];
}

test('ARP request and reply', () => {
  const arp = (op: number, targetMac: number[]) => [0, 1, 8, 0, 6, 4, 0, op, ...A, 10, 0, 0, 1, ...targetMac, 10, 0, 0, 2];
  const who = summarizeFrame(eth(BCAST, A, 0x0806, arp(1, [0, 0, 0, 0, 0, 0])));
  assert.equal(who.type, 'ARP');
  assert.equal(who.src, '02:00:00:00:00:0a');
  assert.equal(who.dst, 'ff:ff:ff:ff:ff:ff');
  assert.equal(who.summary, 'who has 10.0.0.2? tell 10.0.0.1');
  const reply = summarizeFrame(eth(A, B, 0x0806, arp(2, A)));
  assert.equal(reply.summary, '10.0.0.1 is at 02:00:00:00:00:0a');
});

test('ICMP echo request/reply with id and sequence', () => {
  const request = summarizeFrame(eth(B, A, 0x0800, ipv4(1, [8, 0, 0, 0, 0x12, 0x34, 0, 3, 1, 2, 3])));
  assert.equal(request.type, 'ICMP');
  assert.equal(request.summary, '10.0.0.1 → 10.0.0.2 echo request id=4660 seq=3');
  const reply = summarizeFrame(eth(A, B, 0x0800, ipv4(1, [0, 0, 0, 0, 0x12, 0x34, 0, 3], [10, 0, 0, 2], [10, 0, 0, 1])));
  assert.equal(reply.summary, '10.0.0.2 → 10.0.0.1 echo reply id=4660 seq=3');
});

test('TCP flags, ports, payload length; UDP', () => {
  const tcp = [0x9c, 0x40, 0, 80, 0, 0, 0, 7, 0, 0, 0, 0, 0x50, 0x12, 0xff, 0xff, 0, 0, 0, 0, 1, 2, 3, 4, 5];
  const syn = summarizeFrame(eth(B, A, 0x0800, ipv4(6, tcp)));
  assert.equal(syn.type, 'TCP');
  assert.equal(syn.summary, '10.0.0.1:40000 → 10.0.0.2:80 [SYN,ACK] seq=7 len=5');
  const udp = summarizeFrame(eth(B, A, 0x0800, ipv4(17, [0, 53, 0x13, 0x88, 0, 12, 0, 0, 1, 2, 3, 4])));
  assert.equal(udp.summary, '10.0.0.1:53 → 10.0.0.2:5000 len=4');
});

test('a VLAN tag is shown and skipped', () => {
  const tagged = Uint8Array.from([...B, ...A, 0x81, 0x00, 0x00, 0x0a, 0x08, 0x00, ...ipv4(1, [8, 0, 0, 0, 0, 1, 0, 1])]);
  const s = summarizeFrame(tagged);
  assert.equal(s.vlan, 10);
  assert.equal(s.summary, '[vlan 10] 10.0.0.1 → 10.0.0.2 echo request id=1 seq=1');
});

test('IPv6 neighbor solicitation with a compressed address', () => {
  const src = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
  const dst = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 2];
  const target = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
  const icmp6 = [135, 0, 0, 0, 0, 0, 0, 0, ...target];
  const frame = eth([0x33, 0x33, 0xff, 0, 0, 2], A, 0x86dd, [0x60, 0, 0, 0, 0, icmp6.length, 58, 255, ...src, ...dst, ...icmp6]);
  const s = summarizeFrame(frame);
  assert.equal(s.type, 'ICMPv6');
  assert.equal(s.summary, 'fe80::1 → ff02::1:ff00:2 neighbor solicitation fe80::2');
});

test('runts, truncation, fragments and unknown EtherTypes do not throw', () => {
  assert.equal(summarizeFrame(new Uint8Array(5)).type, 'runt');
  assert.match(summarizeFrame(eth(B, A, 0x0800, [0x45, 0])).summary, /truncated/);
  assert.match(summarizeFrame(eth(B, A, 0x0806, [0, 1])).summary, /truncated/);
  assert.match(summarizeFrame(eth(B, A, 0x0800, ipv4(1, [8]))).summary, /ICMP \(truncated\)/);
  assert.match(summarizeFrame(eth(B, A, 0x0800, ipv4(17, [1, 2, 3], undefined, undefined, 0x0010))).summary, /fragment offset 128/);
  const other = summarizeFrame(eth(B, A, 0x88cc, [1, 2, 3]));
  assert.equal(other.type, '0x88cc');
});

test('IPv6 hop-by-hop options are skipped to the ICMPv6 message', () => {
  const src = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
  const dst = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x16];
  const hopByHop = [58, 0, 5, 2, 0, 0, 1, 0];
  const mld = [143, 0, 0, 0, 0, 0, 0, 0];
  const payload = [...hopByHop, ...mld];
  const frame = eth([0x33, 0x33, 0, 0, 0, 0x16], A, 0x86dd, [0x60, 0, 0, 0, 0, payload.length, 0, 1, ...src, ...dst, ...payload]);
  assert.equal(summarizeFrame(frame).summary, 'fe80::1 → ff02::16 MLDv2 report');
});
