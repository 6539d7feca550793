import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakePlatform } from '../../testing.ts';
import { createVirtioNet } from './index.ts';
import {
  OFFERED_FEATURES,
  VIRTIO_F_VERSION_1,
  VIRTIO_NET_F_CSUM,
  VIRTIO_NET_F_GUEST_CSUM,
  VIRTIO_NET_F_GUEST_TSO4,
  VIRTIO_NET_F_HOST_TSO4,
  VIRTIO_NET_F_MRG_RXBUF,
  VIRTIO_NET_F_STATUS,
  featureSet,
  hasFeature,
} from './features.ts';
import { COMMON, ISR_CONFIG, STATUS_DRIVER_OK, STATUS_FEATURES_OK } from './pci-transport.ts';
import { TestDriver } from './testing.ts';
import { TX_INTERRUPT_HOLD_MS } from './tx.ts';
import { patternBytes } from '../../net/testing.ts';

test('registers a modern virtio-net PCI function with the four virtio capabilities on an I/O BAR', () => {
  const platform = new FakePlatform();
  createVirtioNet(platform, { mac: Uint8Array.of(2, 0, 0, 0, 0, 1) });
  const spec = platform.functions[0]!.spec;
  assert.equal(spec.vendorId, 0x1af4);
  assert.equal(spec.deviceId, 0x1041);
  assert.equal(spec.classCode, 0x020000);
  assert.equal(spec.bars[0]?.kind, 'io');
  const caps = spec.capabilities!.map((c) => {
    const view = new DataView(c.body.buffer, c.body.byteOffset);
    return { id: c.id, len: c.body[0], type: c.body[1], bar: c.body[2], offset: view.getUint32(6, true), length: view.getUint32(10, true) };
  });
  assert.deepEqual(caps.map((c) => c.type), [1, 2, 3, 4]);
  for (const cap of caps) {
    assert.equal(cap.id, 0x09);
    assert.equal(cap.bar, 0);
    assert.ok(cap.offset + cap.length <= spec.bars[0]!.size, 'every structure lies inside the BAR');
  }
  assert.equal(caps[0]!.length >= 0x38, true, 'common config covers struct virtio_pci_common_cfg');
  assert.equal(caps[1]!.len, 20, 'the notify capability carries notify_off_multiplier');
});

test('feature negotiation: VERSION_1 is required, accepted features become rxOffloads and a features event', () => {
  const d = new TestDriver();
  const offered = d.deviceFeatures();
  assert.equal(offered, OFFERED_FEATURES);
  assert.ok(hasFeature(offered, VIRTIO_F_VERSION_1));

  assert.equal(d.negotiate(featureSet(VIRTIO_NET_F_CSUM)), false, 'a legacy-only driver is refused');
  assert.equal(d.nic.counters.guestErrors['features-refused'], 1);
  assert.equal(d.negotiate(featureSet(VIRTIO_F_VERSION_1, VIRTIO_NET_F_GUEST_TSO4)), false, 'GUEST_TSO4 needs GUEST_CSUM');
  assert.equal(d.events.length, 0);

  assert.equal(d.negotiate(featureSet(VIRTIO_F_VERSION_1, VIRTIO_NET_F_GUEST_CSUM, VIRTIO_NET_F_GUEST_TSO4, VIRTIO_NET_F_MRG_RXBUF)), true);
  const event = d.events.at(-1)!;
  assert.equal(event.type, 'features');
  assert.equal(d.nic.rxOffloads.csum, true);
  assert.deepEqual([...d.nic.rxOffloads.gso], ['tcp4']);
  assert.ok(d.nic.rxOffloads.maxFrameSize >= 65550);

  // Driver features are frozen after FEATURES_OK.
  d.writeCommon(COMMON.driverFeatureSelect, 0, 4);
  d.writeCommon(COMMON.driverFeature, 0, 4);
  assert.notEqual(d.readCommon(COMMON.driverFeature, 4), 0);
});

test('without guest offloads rxOffloads asks for complete, MTU-sized frames', () => {
  const d = new TestDriver();
  d.negotiate(featureSet(VIRTIO_F_VERSION_1, VIRTIO_NET_F_CSUM, VIRTIO_NET_F_HOST_TSO4));
  assert.equal(d.nic.rxOffloads.csum, false);
  assert.equal(d.nic.rxOffloads.gso.size, 0);
  assert.equal(d.nic.rxOffloads.maxFrameSize, 1518);
});

test('DRIVER_OK gives ready; a reset gives stopped and forgets queues and features', () => {
  const d = new TestDriver().start();
  assert.deepEqual(d.events.map((e) => e.type), ['features', 'ready']);
  assert.equal(d.nic.driverReady, true);
  d.writeCommon(COMMON.deviceStatus, 0, 1);
  assert.equal(d.nic.driverReady, false);
  assert.deepEqual(d.events.at(-1), { type: 'stopped', reason: 'reset' });
  assert.equal(d.status, 0);
  d.writeCommon(COMMON.queueSelect, 1, 2);
  assert.equal(d.readCommon(COMMON.queueEnable, 2), 0);
  assert.equal(d.nic.rxOffloads.gso.size, 0);
  // A second reset of an idle device says nothing more.
  d.writeCommon(COMMON.deviceStatus, 0, 1);
  assert.equal(d.events.filter((e) => e.type === 'stopped').length, 1);
});

test('DRIVER_OK without accepted features is not taken', () => {
  const d = new TestDriver();
  d.negotiate(featureSet(VIRTIO_NET_F_CSUM));
  d.writeCommon(COMMON.deviceStatus, 0x0f, 1);
  assert.equal(d.status & (STATUS_DRIVER_OK | STATUS_FEATURES_OK), 0);
  assert.equal(d.nic.driverReady, false);
  assert.equal(d.events.length, 0);
});

test('16-bit and 64-bit fields compose from byte accesses (v86 splits 16-bit MMIO accesses)', () => {
  const d = new TestDriver();
  d.negotiate();
  d.writeCommon(COMMON.queueSelect, 1, 1);
  d.writeCommon(COMMON.queueSelect + 1, 0, 1);
  assert.equal(d.readCommon(COMMON.queueSelect, 2), 1);
  d.writeCommon(COMMON.queueSize, 0x80, 1);
  d.writeCommon(COMMON.queueSize + 1, 0x00, 1);
  assert.equal(d.readCommon(COMMON.queueSize, 2), 128);
  assert.equal(d.readCommon(COMMON.queueSize, 1), 128);
  for (let i = 0; i < 4; i++) d.writeCommon(COMMON.queueDescLo + i, [0x00, 0x10, 0x02, 0x00][i]!, 1);
  assert.equal(d.readCommon(COMMON.queueDescLo, 4), 0x21000);
  assert.equal(d.readCommon(COMMON.queueNotifyOff, 2), 1);
  assert.equal(d.readCommon(COMMON.numQueues, 2), 3);
  assert.equal(d.readCommon(COMMON.msixConfig, 2), 0xffff, 'no MSI-X: INTx only');
});

test('a 16-bit notify split into two byte writes processes the queue once', () => {
  const d = new TestDriver().start();
  const sent: number[] = [];
  d.nic.setTransmitSink({ deliver: (frames) => sent.push(frames.length) });
  const packet = d.put(new Uint8Array(12 + 60));
  d.tx.add([{ addr: packet, length: 72 }]);
  d.fn.write(0, 0x40 + 2, 1, 1);
  d.fn.write(0, 0x40 + 3, 0, 1);
  assert.deepEqual(sent, [1]);
});

test('ISR: a queue interrupt raises INTx, reading the ISR returns and clears it and lowers the line', () => {
  const d = new TestDriver().start();
  d.nic.setTransmitSink({ deliver: () => {} });
  const irq = d.fn.irq;
  const packet = d.put(new Uint8Array(12 + 60));
  d.tx.add([{ addr: packet, length: 72 }]);
  d.tx.kick();
  assert.equal(d.tx.takeUsed().length, 1, 'the buffer is returned at once');
  assert.equal(irq.level, false, 'the transmit-completion interrupt is held');
  d.platform.timers.advance(TX_INTERRUPT_HOLD_MS);
  assert.equal(irq.level, true);
  assert.equal(irq.raised, 1);
  assert.equal(d.readIsr(), 1);
  assert.equal(irq.level, false);
  assert.equal(d.readIsr(), 0);

  // The driver suppresses interrupts with VIRTQ_AVAIL_F_NO_INTERRUPT.
  d.tx.noInterrupt = true;
  d.tx.add([{ addr: packet, length: 72 }]);
  d.tx.kick();
  d.platform.timers.advance(TX_INTERRUPT_HOLD_MS);
  assert.equal(irq.level, false);
  assert.equal(d.tx.takeUsed().length, 1, 'the buffer is still returned');
});

test('a held transmit-completion interrupt rides along with the next receive interrupt: one interrupt for both', () => {
  const d = new TestDriver().start();
  d.nic.setTransmitSink({ deliver: () => {} });
  const irq = d.fn.irq;
  const rxBuffer = d.arena.alloc(1536);
  d.rx.add([{ addr: rxBuffer, length: 1536, write: true }]);
  d.rx.kick();
  d.tx.add([{ addr: d.put(new Uint8Array(12 + 60)), length: 72 }]);
  d.tx.kick();
  assert.equal(irq.raised, 0);
  const reply = patternBytes(60);
  reply.set([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
  d.nic.receive([{ data: reply }]);
  assert.equal(irq.raised, 1);
  assert.equal(d.readIsr(), 1);
  d.platform.timers.advance(10 * TX_INTERRUPT_HOLD_MS);
  assert.equal(irq.raised, 1, 'the held interrupt was cancelled, not raised a second time');
  assert.equal(d.platform.timers.pendingCount, 0);
});

test('txInterruptHoldMs 0 interrupts for every transmit completion at once; a reset drops a held one', () => {
  const now = new TestDriver({ txInterruptHoldMs: 0 }).start();
  now.nic.setTransmitSink({ deliver: () => {} });
  now.tx.add([{ addr: now.put(new Uint8Array(12 + 60)), length: 72 }]);
  now.tx.kick();
  assert.equal(now.fn.irq.level, true);

  const held = new TestDriver().start();
  held.nic.setTransmitSink({ deliver: () => {} });
  held.tx.add([{ addr: held.put(new Uint8Array(12 + 60)), length: 72 }]);
  held.tx.kick();
  assert.equal(held.platform.timers.pendingCount, 1);
  held.writeCommon(COMMON.deviceStatus, 0, 1);
  assert.equal(held.platform.timers.pendingCount, 0, 'reset cancels the held interrupt');
  held.platform.timers.advance(TX_INTERRUPT_HOLD_MS);
  assert.equal(held.fn.irq.raised, 0);
});

test('link status: setLinkUp changes the config status bit, bumps the generation and raises a config interrupt', () => {
  const d = new TestDriver().start({ features: OFFERED_FEATURES });
  assert.ok(hasFeature(OFFERED_FEATURES, VIRTIO_NET_F_STATUS));
  assert.equal(d.readConfig(6, 2) & 1, 1);
  const generation = d.readCommon(COMMON.configGeneration, 1);
  d.nic.setLinkUp(false);
  assert.equal(d.readConfig(6, 2) & 1, 0);
  assert.equal(d.fn.irq.level, true);
  assert.equal(d.readIsr(), ISR_CONFIG);
  assert.notEqual(d.readCommon(COMMON.configGeneration, 1), generation);
  d.nic.receive([{ data: new Uint8Array(60).fill(0xff) }]);
  assert.equal(d.nic.counters.rxDropped['link-down'], 1);
  d.nic.setLinkUp(true);
  assert.equal(d.readConfig(6, 2) & 1, 1);
  assert.equal(d.readIsr(), ISR_CONFIG);
});

test('device config holds the MAC and the MTU', () => {
  const d = new TestDriver({ mac: Uint8Array.of(0x52, 0x54, 0, 0xab, 0xcd, 0xef) });
  assert.deepEqual(Array.from({ length: 6 }, (_, i) => d.readConfig(i, 1)), [0x52, 0x54, 0, 0xab, 0xcd, 0xef]);
  assert.equal(d.readConfig(10, 2), 1500);
});
