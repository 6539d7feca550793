import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, TEST_MAC, ethFrame } from './testing.ts';
import { CTRL_VME, ICR_RXDMT0, ICR_RXO, ICR_RXT0, RCTL_BAM, RCTL_BSEX, RCTL_EN, RCTL_LPE, RCTL_MPE, RCTL_SECRC, RCTL_UPE, RCTL_VFE, REG, STAT } from './registers.ts';
import { buildIpv4, patternBytes } from '../../net/testing.ts';
import { RX_QUEUE_LIMIT } from './rx.ts';

const OTHER = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55];
const BROADCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];

function delivered(h: Harness): number {
  return h.r(REG.RDH);
}

test('unicast to RA[0] is received with DD, EOP and length + 4 (FCS); another MAC is filtered', () => {
  const h = new Harness();
  h.setupRx(8, RCTL_EN);
  h.w(REG.IMS, ICR_RXT0);
  const frame = ethFrame(TEST_MAC, 100, 0x0800, 0x5a);
  h.nic.receive([{ data: frame }]);
  assert.equal(delivered(h), 1);
  const rx = h.rxDesc(0);
  assert.equal(rx.length, 104);
  assert.equal(rx.status & 3, 3);
  assert.deepEqual(rx.data.subarray(0, 100), frame);
  assert.equal(h.irq.level, true);
  assert.equal(h.r(REG.ICR) & ICR_RXT0, ICR_RXT0);
  h.nic.receive([{ data: ethFrame(OTHER, 100) }]);
  assert.equal(delivered(h), 1, 'unicast miss is dropped');
  assert.equal(h.nic.counters.rxDropped['filtered'], 1);
  // SECRC: no FCS in the length.
  h.w(REG.RCTL, RCTL_EN | RCTL_SECRC);
  h.nic.receive([{ data: frame }]);
  assert.equal(h.rxDesc(1).length, 100);
  assert.equal(h.r(STAT.GPRC), 2);
});

test('broadcast needs BAM; multicast passes through the MTA hash or MPE; UPE is promiscuous', () => {
  const h = new Harness();
  h.setupRx(16, RCTL_EN);
  h.nic.receive([{ data: ethFrame(BROADCAST, 60) }]);
  assert.equal(delivered(h), 0, 'broadcast without BAM');
  h.w(REG.RCTL, RCTL_EN | RCTL_BAM);
  h.nic.receive([{ data: ethFrame(BROADCAST, 60) }]);
  assert.equal(delivered(h), 1, 'broadcast with BAM');
  const group = [0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb];
  h.nic.receive([{ data: ethFrame(group, 60) }]);
  assert.equal(delivered(h), 1, 'multicast without its MTA bit');
  // MO = 0: hash = (d[5] << 8 | d[4]) >> 4, as the driver computes it.
  const hash = (((group[5]! << 8) | group[4]!) >> 4) & 0xfff;
  h.w(REG.MTA + 4 * (hash >> 5), 1 << (hash & 31));
  h.nic.receive([{ data: ethFrame(group, 60) }]);
  assert.equal(delivered(h), 2, 'multicast through the MTA hash');
  h.nic.receive([{ data: ethFrame([0x01, 0, 0x5e, 0, 0, 0x01], 60) }]);
  assert.equal(delivered(h), 2, 'another group hashes elsewhere');
  h.w(REG.RCTL, RCTL_EN | RCTL_MPE);
  h.nic.receive([{ data: ethFrame([0x01, 0, 0x5e, 0, 0, 0x01], 60) }]);
  assert.equal(delivered(h), 3, 'MPE takes every multicast');
  h.nic.receive([{ data: ethFrame(OTHER, 60) }]);
  assert.equal(delivered(h), 3);
  h.w(REG.RCTL, RCTL_EN | RCTL_UPE);
  h.nic.receive([{ data: ethFrame(OTHER, 60) }]);
  assert.equal(delivered(h), 4, 'UPE takes unicast for another MAC');
  // Secondary RA entries match too.
  h.w(REG.RCTL, RCTL_EN);
  h.w(REG.RA + 8, 0x33221102);
  h.w(REG.RA + 12, 0x80005544);
  h.nic.receive([{ data: ethFrame(OTHER, 60) }]);
  assert.equal(delivered(h), 5);
});

test('ring full gives RXO, the frame waits and is delivered on the next RDT write', () => {
  const h = new Harness();
  h.setupRx(8, RCTL_EN); // RDLEN counts 128-byte units: 8 descriptors, RDT = 7 leaves 7 free
  h.w(REG.IMS, ICR_RXO | ICR_RXT0);
  const frames = [1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => ({ data: ethFrame(TEST_MAC, 60 + n) }));
  h.nic.receive(frames);
  assert.equal(delivered(h), 7);
  const icr = h.r(REG.ICR);
  assert.equal(icr & ICR_RXO, ICR_RXO);
  assert.equal(h.r(STAT.RNBC) > 0, true);
  // The driver hands back descriptors 7 and 0.
  h.w(REG.RDT, 1);
  assert.equal(delivered(h), 1, 'head wrapped around: descriptors 7 and 0 used');
  assert.equal(h.rxDesc(7).length, 68 + 4);
  assert.equal(h.rxDesc(0).length, 69 + 4);
  assert.equal(h.r(REG.ICR) & ICR_RXT0, ICR_RXT0);
  assert.equal(h.nic.counters.rxFrames, 9);
});

test('the wait queue is bounded: beyond it frames are dropped and counted (MPC)', () => {
  const h = new Harness();
  h.setupRx(8, RCTL_EN);
  const frames = Array.from({ length: 7 + RX_QUEUE_LIMIT + 129 }, () => ({ data: ethFrame(TEST_MAC, 60) }));
  h.nic.receive(frames);
  assert.equal(delivered(h), 7);
  assert.equal(h.r(STAT.MPC), 129);
  assert.equal(h.nic.counters.rxDropped['ring-full'], 129);
});

test('RXDMT0 when free descriptors fall to the threshold', () => {
  const h = new Harness();
  h.setupRx(16, RCTL_EN); // RDMTS = 1/2: 8 descriptors
  for (let i = 0; i < 6; i++) h.nic.receive([{ data: ethFrame(TEST_MAC, 60) }]);
  assert.equal(h.r(REG.ICR) & ICR_RXDMT0, 0);
  h.nic.receive([{ data: ethFrame(TEST_MAC, 60) }]);
  assert.equal(h.r(REG.ICR) & ICR_RXDMT0, ICR_RXDMT0);
});

test('oversize frames are dropped without LPE; jumbo frames span descriptors with LPE', () => {
  const h = new Harness();
  h.setupRx(16, RCTL_EN);
  h.nic.receive([{ data: ethFrame(TEST_MAC, 1518) }]);
  assert.equal(delivered(h), 1, '1518 bytes (tagged maximum) fit');
  h.nic.receive([{ data: ethFrame(TEST_MAC, 1519) }]);
  assert.equal(delivered(h), 1);
  assert.equal(h.r(STAT.ROC), 1);
  // 4096-byte buffers (BSEX, BSIZE 11), as Linux uses for MTU 9000.
  const j = new Harness();
  j.setupRx(16, RCTL_EN | RCTL_LPE | RCTL_BSEX | (3 << 16), 4096);
  const big = ethFrame(TEST_MAC, 9014, 0x0800, 0x77);
  j.nic.receive([{ data: big }]);
  assert.equal(j.r(REG.RDH), 3);
  const parts = [0, 1, 2].map((i) => j.rxDesc(i));
  assert.deepEqual(parts.map((p) => p.length), [4096, 4096, 9018 - 8192]);
  assert.deepEqual(parts.map((p) => p.status & 3), [1, 1, 3], 'EOP on the last only');
  const joined = new Uint8Array([...parts[0]!.data, ...parts[1]!.data, ...parts[2]!.data]);
  assert.deepEqual(joined.subarray(0, 9014), big);
  j.nic.receive([{ data: ethFrame(TEST_MAC, 16381) }]);
  assert.equal(j.r(STAT.ROC), 1, 'over 16380 even with LPE');
});

test('VLAN filter (VFTA) and tag strip (CTRL.VME) with VP and the tag in special', () => {
  const h = new Harness();
  h.setupRx(8, RCTL_EN | RCTL_VFE);
  h.w(REG.CTRL, h.r(REG.CTRL) | CTRL_VME);
  const tagged = (vid: number) => {
    const f = ethFrame(TEST_MAC, 68, 0x8100);
    f[14] = vid >> 8;
    f[15] = vid & 0xff;
    f[16] = 0x08;
    f[17] = 0x00;
    return f;
  };
  h.nic.receive([{ data: tagged(5) }]);
  assert.equal(delivered(h), 0, 'VLAN 5 not in VFTA');
  h.w(REG.VFTA, 1 << 5);
  h.nic.receive([{ data: tagged(5) }]);
  assert.equal(delivered(h), 1);
  const rx = h.rxDesc(0);
  assert.equal(rx.length, 64 + 4, 'tag stripped');
  assert.equal(rx.status & 0x08, 0x08, 'VP');
  assert.equal(rx.special, 5);
  assert.deepEqual(Array.from(rx.data.subarray(12, 14)), [0x08, 0x00]);
});

test('receive checksum status: TCPCS/IPCS for good packets, TCPE for a corrupted one', () => {
  const h = new Harness();
  h.setupRx(8, RCTL_EN);
  const good = buildIpv4('tcp', patternBytes(300), { dstMac: Array.from(TEST_MAC) });
  h.nic.receive([{ data: good.data }]);
  assert.equal(h.rxDesc(0).status & 0x60, 0x60);
  assert.equal(h.rxDesc(0).errors, 0);
  const bad = good.data.slice();
  bad[bad.length - 1]! ^= 0xff;
  h.nic.receive([{ data: bad }]);
  assert.equal(h.rxDesc(1).errors & 0x20, 0x20, 'TCPE');
  // A frame with a checksum still to do is completed before it reaches the guest.
  const partial = buildIpv4('udp', patternBytes(100), { dstMac: Array.from(TEST_MAC), seed: 'full' });
  h.nic.receive([{ data: partial.data, csum: { start: partial.l4, offset: 6 } }]);
  assert.equal(h.rxDesc(2).errors, 0);
  assert.equal(h.rxDesc(2).status & 0x20, 0x20);
});

test('RDTR/RADV: a burst of received frames costs one interrupt', () => {
  const h = new Harness();
  h.setupRx(64, RCTL_EN);
  h.w(REG.IMS, ICR_RXT0);
  h.w(REG.RDTR, 200);
  h.w(REG.RADV, 1000);
  for (let i = 0; i < 30; i++) {
    h.nic.receive([{ data: ethFrame(TEST_MAC, 60) }]);
    h.platform.timers.advance(0.01);
  }
  assert.equal(h.irq.raised, 0);
  h.platform.timers.advance(0.3);
  assert.equal(h.irq.raised, 1);
  assert.equal(delivered(h), 30);
});

test('nothing is received with the receiver disabled or the link down', () => {
  const h = new Harness();
  h.setupRx(8, 0);
  h.nic.receive([{ data: ethFrame(TEST_MAC, 60) }]);
  assert.equal(h.nic.counters.rxDropped['receiver-disabled'], 1);
  h.w(REG.RCTL, RCTL_EN);
  h.nic.setLinkUp(false);
  h.nic.receive([{ data: ethFrame(TEST_MAC, 60) }]);
  assert.equal(h.nic.counters.rxDropped['link-down'], 1);
  assert.equal(delivered(h), 0);
});
