import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Switch } from '../switch.ts';
import { AclFilter, parseIpv6Address } from './acl.ts';
import type { AclRule } from './acl.ts';
import { MacLearningForwarder } from './mac-learning.ts';
import { BROADCAST, attachVm, ethFrame, ipv4Frame, ipv6Frame, mac, withTags, type Ipv6Extension } from '../testing.ts';
import type { Frame } from '../../emulator/net/frame.ts';

async function aclLab(rules: AclRule[], defaultAction: 'allow' | 'deny' = 'allow') {
  const acl = new AclFilter({ rules, defaultAction });
  const sw = new Switch({ extensions: [acl, new MacLearningForwarder()] });
  const a = await attachVm(sw, 1);
  const b = await attachVm(sw, 2);
  return { sw, acl, a, b };
}

test('ACL: first matching rule wins; deny drops with the rule name as reason; hits are counted per rule', async () => {
  const { sw, acl, a, b } = await aclLab([
    { name: 'ssh-ok', action: 'allow', protocol: 'tcp', dstPort: 22, dstIp: '10.0.0.2' },
    { name: 'no-tcp-to-b', action: 'deny', protocol: 'tcp', dstIp: '10.0.0.0/24' },
    { name: 'no-udp-high', action: 'deny', protocol: 'udp', srcPort: [1024, 65535] },
    { name: 'no-arp-from-x', action: 'deny', ethertype: 0x0806, srcMac: '02:00:00:00:00:99' },
  ]);
  const ip = (protocol: number, dport: number, sport = 40000, dst = '10.0.0.2') =>
    ipv4Frame(b.mac, a.mac, { src: '10.0.0.1', dst, protocol, sport, dport });
  sw.ingress(a.portId, 0, [
    ip(6, 22), // allowed by ssh-ok
    ip(6, 80), // denied by no-tcp-to-b
    ip(6, 80, 40000, '10.0.1.2'), // other subnet: default allow
    ip(17, 53, 5353), // denied by no-udp-high
    ip(17, 53, 53), // low source port: allowed
    ip(1, 0), // ICMP: allowed
    ethFrame(b.mac, mac(0x99), { ethertype: 0x0806 }), // denied by no-arp-from-x
    ethFrame(b.mac, a.mac, { ethertype: 0x0806 }), // ARP from a: allowed
  ]);
  assert.equal(b.sink.frames.length, 5);
  assert.deepEqual(sw.counters(a.portId).drops, { 'acl:no-tcp-to-b': 1, 'acl:no-udp-high': 1, 'acl:no-arp-from-x': 1 });
  assert.deepEqual(acl.counters().map((r) => r.hits), [1, 1, 1, 1]);
  assert.equal(acl.defaultHits, 4);
});

test('ACL: rules look under a VLAN tag; default deny; sourcePorts', async () => {
  const { sw, acl, a, b } = await aclLab([{ name: 'web', action: 'allow', sourcePorts: [1], protocol: 'tcp', dstPort: [80, 443] }], 'deny');
  await sw.addPortProperty(b.portId, { type: 'vlan', mode: 'trunk', allowed: [5] });
  await sw.addPortProperty(a.portId, { type: 'vlan', mode: 'trunk', allowed: [5] });
  sw.ingress(a.portId, 0, [
    ipv4Frame(BROADCAST, a.mac, { src: '1.1.1.1', dst: '2.2.2.2', protocol: 6, dport: 443, vlan: 5 }),
    ipv4Frame(BROADCAST, a.mac, { src: '1.1.1.1', dst: '2.2.2.2', protocol: 6, dport: 22, vlan: 5 }),
  ]);
  sw.ingress(b.portId, 0, [ipv4Frame(BROADCAST, b.mac, { src: '1.1.1.1', dst: '2.2.2.2', protocol: 6, dport: 443, vlan: 5 })]);
  assert.equal(b.sink.frames.length, 1);
  assert.equal(a.sink.frames.length, 0);
  assert.equal(sw.counters(a.portId).drops['acl:default'], 1);
  assert.equal(sw.counters(b.portId).drops['acl:default'], 1);
  assert.equal(acl.counters()[0]!.hits, 1);
});

test('ACL: bad rules are refused whole, with the rule named', () => {
  assert.throws(() => new AclFilter({ rules: [{ action: 'deny', srcIp: '10.0.0.0/33' }] }), /rule "rule 1": not an IPv4 prefix/);
  assert.throws(() => new AclFilter({ rules: [{ name: 'x', action: 'deny', srcMac: 'nope' }] }), /rule "x": not a MAC/);
  assert.throws(() => new AclFilter({ rules: [{ action: 'drop' as never }] }), /allow or deny/);
  assert.throws(() => new AclFilter({ rules: [{ action: 'deny', dstPort: [10, 5] }] }), /bad dstPort/);
  const acl = new AclFilter({ rules: [{ action: 'deny', protocol: 'tcp' }] });
  assert.throws(() => acl.setRules([{ action: 'deny', protocol: 'sctp' as never }]), /bad protocol/);
  assert.equal(acl.counters().length, 1, 'the old rules stay');
});

/** Which of the frames a lone ACL drops, by index (one switch, a→b, default allow unless said). */
async function verdicts(rules: AclRule[], frames: (a: Uint8Array, b: Uint8Array) => Frame[], defaultAction: 'allow' | 'deny' = 'allow') {
  const { sw, a, b } = await aclLab(rules, defaultAction);
  const list = frames(a.mac, b.mac);
  const passed: number[] = [];
  for (const [i, frame] of list.entries()) {
    const before = b.sink.frames.length;
    sw.ingress(a.portId, 0, [frame]);
    if (b.sink.frames.length > before) passed.push(i);
  }
  return passed;
}

const v6 = (text: string) => parseIpv6Address(text)!;

test('ACL: a double-tagged TCP/22 frame is judged by its innermost payload', async () => {
  const ssh = (a: Uint8Array, b: Uint8Array) => ipv4Frame(b, a, { src: '10.0.0.1', dst: '10.0.0.2', protocol: 6, dport: 22 });
  const acl = new AclFilter({ rules: [{ name: 'no-ssh', action: 'deny', protocol: 'tcp', dstPort: 22 }] });
  const sw = new Switch({ extensions: [acl, new MacLearningForwarder()] });
  const a = await attachVm(sw, 1);
  const b = await attachVm(sw, 2);
  await sw.addPortProperty(a.portId, { type: 'vlan', mode: 'trunk', allowed: [5] });
  await sw.addPortProperty(b.portId, { type: 'vlan', mode: 'trunk', allowed: [5] });
  sw.ingress(a.portId, 0, [
    withTags(ssh(a.mac, b.mac), [[0x8100, 5], [0x8100, 7]]),
    withTags(ssh(a.mac, b.mac), [[0x8100, 5], [0x88a8, 7], [0x8100, 8]]),
    withTags(ipv4Frame(b.mac, a.mac, { src: '10.0.0.1', dst: '10.0.0.2', protocol: 6, dport: 80 }), [[0x8100, 5], [0x8100, 7]]),
  ]);
  assert.equal(b.sink.frames.length, 1, 'only the TCP/80 frame passes');
  assert.equal(sw.counters(a.portId).drops['acl:no-ssh'], 2);
});

test('ACL: more tags than it reads fail closed (deny rules match, allow rules do not); non-IP matches no IP rule', async () => {
  const deep = (a: Uint8Array, b: Uint8Array, tags: number) =>
    withTags(ipv4Frame(b, a, { src: '10.0.0.1', dst: '10.0.0.2', protocol: 6, dport: 80 }), Array.from({ length: tags }, () => [0x8100, 0] as const));
  const frames = (a: Uint8Array, b: Uint8Array) => [deep(a, b, 4), deep(a, b, 5), ethFrame(b, a, { ethertype: 0x0806 })];
  // Fed straight to the filter: the port's VLAN policy would drop these tags first.
  const passed = (rules: AclRule[], defaultAction: 'allow' | 'deny') => {
    const acl = new AclFilter({ rules, defaultAction });
    return frames(mac(1), mac(2)).map((frame) => {
      let dropped = false;
      acl.ingress({ count: 1, isDropped: () => false, frame: () => frame, sourcePortId: () => 1, drop: () => (dropped = true) } as never);
      return !dropped;
    });
  };
  assert.deepEqual(passed([{ action: 'deny', protocol: 'tcp', dstPort: 22 }], 'allow'), [true, false, true]);
  assert.deepEqual(passed([{ action: 'deny', ethertype: 0x0806 }], 'allow'), [true, false, false]);
  assert.deepEqual(passed([{ action: 'allow', protocol: 'tcp', dstPort: 80 }], 'deny'), [true, false, false]);
  assert.deepEqual(passed([{ action: 'allow', ethertype: 0x0800 }], 'deny'), [true, false, false]);
});

test('ACL: protocol and port rules hold for IPv6, through its extension headers', async () => {
  const a6 = v6('2001:db8::1');
  const b6 = v6('2001:db8::2');
  const tcp6 = (a: Uint8Array, b: Uint8Array, dport: number, extensions: Ipv6Extension[] = []) =>
    ipv6Frame(b, a, { src: a6, dst: b6, protocol: 6, sport: 40000, dport, extensions });
  const chain: Ipv6Extension[] = [{ type: 0 }, { type: 43 }, { type: 44, offset: 0, more: true }, { type: 60 }, { type: 51 }];
  const passed = await verdicts([{ name: 'no-ssh', action: 'deny', protocol: 'tcp', dstPort: 22 }], (a, b) => [
    tcp6(a, b, 22), // 0 denied
    tcp6(a, b, 80), // 1
    tcp6(a, b, 22, chain), // 2 denied: every kind of extension header walked
    tcp6(a, b, 80, chain), // 3
    tcp6(a, b, 22, [{ type: 44, offset: 100 }]), // 4 a later fragment has no ports: passes
    tcp6(a, b, 22, Array.from({ length: 9 }, () => ({ type: 60 }) as const)), // 5 too many headers: fails closed
    { data: tcp6(a, b, 22, chain).data.subarray(0, 14 + 40 + 8 * 3) }, // 6 chain cut short: fails closed
    ipv4Frame(b, a, { src: '10.0.0.1', dst: '10.0.0.2', protocol: 6, dport: 22 }), // 7 IPv4 still denied
  ]);
  assert.deepEqual(passed, [1, 3, 4]);
});

test('ACL: icmp matches ICMPv4 and ICMPv6, icmpv6 and protocol 1 one family each', async () => {
  const a6 = v6('2001:db8::1');
  const b6 = v6('2001:db8::2');
  const frames = (a: Uint8Array, b: Uint8Array) => [
    ipv4Frame(b, a, { src: '10.0.0.1', dst: '10.0.0.2', protocol: 1 }),
    ipv6Frame(b, a, { src: a6, dst: b6, protocol: 58 }),
    ipv6Frame(b, a, { src: a6, dst: b6, protocol: 58, extensions: [{ type: 0 }] }),
    ipv6Frame(b, a, { src: a6, dst: b6, protocol: 17, dport: 53 }),
  ];
  assert.deepEqual(await verdicts([{ action: 'deny', protocol: 'icmp' }], frames), [3]);
  assert.deepEqual(await verdicts([{ action: 'deny', protocol: 'icmpv6' }], frames), [0, 3]);
  assert.deepEqual(await verdicts([{ action: 'deny', protocol: 1 }], frames), [1, 2, 3]);
  assert.deepEqual(await verdicts([{ action: 'allow', protocol: 'icmp' }], frames, 'deny'), [0, 1, 2]);
});

test('ACL: IPv6 prefixes match IPv6 packets only; IPv4 prefixes IPv4 only', async () => {
  const frames = (a: Uint8Array, b: Uint8Array) => [
    ipv6Frame(b, a, { src: v6('2001:db8:1::5'), dst: v6('fe80::1'), protocol: 6, dport: 80 }),
    ipv6Frame(b, a, { src: v6('2001:db9::5'), dst: v6('fe80::1'), protocol: 6, dport: 80 }),
    ipv6Frame(b, a, { src: v6('::ffff:10.0.0.1'), dst: v6('fe80::2'), protocol: 6, dport: 80 }),
    ipv4Frame(b, a, { src: '10.0.0.1', dst: '10.0.0.2', protocol: 6, dport: 80 }),
  ];
  assert.deepEqual(await verdicts([{ action: 'deny', srcIp: '2001:db8::/32' }], frames), [1, 2, 3]);
  assert.deepEqual(await verdicts([{ action: 'deny', dstIp: 'fe80::1' }], frames), [2, 3]);
  assert.deepEqual(await verdicts([{ action: 'deny', srcIp: '::ffff:10.0.0.0/104' }], frames), [0, 1, 3]);
  assert.deepEqual(await verdicts([{ action: 'deny', srcIp: '10.0.0.0/8' }], frames), [0, 1, 2]);
  assert.deepEqual(await verdicts([{ action: 'deny', srcIp: '::/0' }], frames), [3]);
  assert.throws(() => new AclFilter({ rules: [{ action: 'deny', srcIp: '2001:db8::/129' }] }), /not an IPv6 prefix/);
  assert.throws(() => new AclFilter({ rules: [{ action: 'deny', srcIp: '1::2::3' }] }), /not an IPv6 prefix/);
  assert.throws(() => new AclFilter({ rules: [{ action: 'deny', srcIp: '1:2:3:4:5:6:7:8:9' }] }), /not an IPv6 prefix/);
  assert.deepEqual([...v6('1:2:3:4:5:6:7:8')], [0x00010002, 0x00030004, 0x00050006, 0x00070008]);
  assert.deepEqual([...v6('::')], [0, 0, 0, 0]);
});

test('ACL: dstMac is a condition; port ranges include both ends', async () => {
  const other = mac(0x77);
  const byMac = await verdicts([{ action: 'deny', dstMac: '02:00:00:00:00:77' }], (a, b) => [ethFrame(b, a), ethFrame(other, a)]);
  assert.deepEqual(byMac, [0]);
  const ports = (a: Uint8Array, b: Uint8Array) =>
    [999, 1000, 2000, 2001].map((sport) => ipv4Frame(b, a, { src: '10.0.0.1', dst: '10.0.0.2', protocol: 17, sport, dport: sport }));
  assert.deepEqual(await verdicts([{ action: 'deny', srcPort: [1000, 2000] }], ports), [0, 3]);
  assert.deepEqual(await verdicts([{ action: 'deny', dstPort: [1000, 2000] }], ports), [0, 3]);
});
