import { test } from 'node:test';
import assert from 'node:assert/strict';
import { patternBytes } from '../../net/testing.ts';
import { CTRL_CLASS_MAC, CTRL_CLASS_RX, CTRL_ERR, CTRL_MAC_ADDR_SET, CTRL_MAC_TABLE_SET, CTRL_OK, CTRL_RX_ALLMULTI, CTRL_RX_PROMISC } from './control.ts';
import { featureSet, OFFERED_FEATURES, VIRTIO_NET_F_CTRL_RX } from './features.ts';
import { TestDriver } from './testing.ts';

const OWN = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
const OTHER = [0x52, 0x54, 0, 0x99, 0x99, 0x99];
const MCAST = [0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb];
const MCAST2 = [0x33, 0x33, 0, 0, 0, 1];
const BROADCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];

function frame(dst: number[]): { data: Uint8Array } {
  const data = patternBytes(64);
  data.set(dst);
  return { data };
}

function macTable(unicast: number[][], multicast: number[][]): Uint8Array {
  const le32 = (n: number) => [n & 0xff, (n >> 8) & 0xff, 0, 0];
  return Uint8Array.from([...le32(unicast.length), ...unicast.flat(), ...le32(multicast.length), ...multicast.flat()]);
}

function ready(): TestDriver {
  const d = new TestDriver().start();
  for (let i = 0; i < 32; i++) d.rx.add([{ addr: d.arena.alloc(1536), length: 1536, write: true }]);
  d.rx.kick();
  return d;
}

function delivered(d: TestDriver, dst: number[]): boolean {
  const before = d.nic.counters.rxFrames;
  d.nic.receive([frame(dst)]);
  return d.nic.counters.rxFrames === before + 1;
}

test('CTRL_RX: the device starts promiscuous; promisc off filters foreign unicast', () => {
  const d = ready();
  assert.equal(delivered(d, OTHER), true, 'promiscuous until the driver programs the filter');
  assert.equal(d.control(CTRL_CLASS_RX, CTRL_RX_PROMISC, Uint8Array.of(0)), CTRL_OK);
  assert.deepEqual(d.ctrl.takeUsed().map((u) => u.len), [1]);
  assert.equal(delivered(d, OTHER), false);
  assert.equal(d.nic.counters.rxDropped.filtered, 1);
  assert.equal(delivered(d, OWN), true);
  assert.equal(delivered(d, BROADCAST), true);
  assert.equal(delivered(d, MCAST), false, 'multicast not in the table');
  assert.equal(d.control(CTRL_CLASS_RX, CTRL_RX_ALLMULTI, Uint8Array.of(1)), CTRL_OK);
  assert.equal(delivered(d, MCAST), true);
  assert.equal(d.control(CTRL_CLASS_RX, CTRL_RX_PROMISC, Uint8Array.of(1)), CTRL_OK);
  assert.equal(delivered(d, OTHER), true, 'tcpdump-style promiscuous mode');
});

test('CTRL_MAC_TABLE_SET: unicast and multicast tables filter', () => {
  const d = ready();
  d.control(CTRL_CLASS_RX, CTRL_RX_PROMISC, Uint8Array.of(0));
  assert.equal(d.control(CTRL_CLASS_MAC, CTRL_MAC_TABLE_SET, macTable([OTHER], [MCAST])), CTRL_OK);
  assert.equal(delivered(d, OTHER), true);
  assert.equal(delivered(d, MCAST), true);
  assert.equal(delivered(d, MCAST2), false);
  assert.equal(delivered(d, [0x52, 0x54, 0, 1, 1, 1]), false);
  // A malformed table is refused and leaves the old one.
  assert.equal(d.control(CTRL_CLASS_MAC, CTRL_MAC_TABLE_SET, macTable([OTHER], [MCAST]).subarray(0, 12)), CTRL_ERR);
  assert.equal(delivered(d, OTHER), true);
  // More entries than the table holds: that class is let through.
  const many = Array.from({ length: 70 }, (_, i) => [0x33, 0x33, 0, 0, 1, i]);
  assert.equal(d.control(CTRL_CLASS_MAC, CTRL_MAC_TABLE_SET, macTable([], many)), CTRL_OK);
  assert.equal(delivered(d, MCAST2), true);
  assert.equal(delivered(d, OTHER), false);
});

test('CTRL_MAC_ADDR_SET changes the MAC, the config space and emits a mac event; reset restores it', () => {
  const d = ready();
  d.control(CTRL_CLASS_RX, CTRL_RX_PROMISC, Uint8Array.of(0));
  assert.equal(d.control(CTRL_CLASS_MAC, CTRL_MAC_ADDR_SET, Uint8Array.from(OTHER)), CTRL_OK);
  assert.deepEqual([...d.nic.mac], OTHER);
  assert.deepEqual(Array.from({ length: 6 }, (_, i) => d.readConfig(i, 1)), OTHER);
  assert.deepEqual(d.events.at(-1), { type: 'mac', mac: Uint8Array.from(OTHER) });
  assert.equal(delivered(d, OTHER), true);
  assert.equal(delivered(d, OWN), false);
  d.writeCommon(0x14, 0, 1);
  assert.deepEqual([...d.nic.mac], OWN);
});

test('control commands that were not negotiated or are unknown get VIRTIO_NET_ERR', () => {
  const d = new TestDriver().start({ features: OFFERED_FEATURES & ~featureSet(VIRTIO_NET_F_CTRL_RX) });
  assert.equal(d.control(CTRL_CLASS_RX, CTRL_RX_PROMISC, Uint8Array.of(0)), CTRL_ERR);
  assert.equal(d.control(2, 0, Uint8Array.of(0, 1)), CTRL_ERR);
  assert.equal(d.control(CTRL_CLASS_RX, 9, new Uint8Array(0)), CTRL_ERR);
  assert.equal(d.nic.driverReady, true, 'a refused command is not a broken device');
});

test('a control command without a writable ack byte breaks only the device', () => {
  const d = new TestDriver().start();
  d.ctrl.add([{ addr: d.put(Uint8Array.of(0, 0, 0)), length: 3 }]);
  d.ctrl.kick();
  assert.equal(d.nic.counters.guestErrors['ctrl-no-ack'], 1);
  assert.equal(d.nic.driverReady, false);
});
