import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Switch } from '../switch.ts';
import { AclFilter } from './acl.ts';
import type { AclRule } from './acl.ts';
import { MacLearningForwarder } from './mac-learning.ts';
import { BROADCAST, attachVm, ethFrame, ipv4Frame, mac } from '../testing.ts';

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
