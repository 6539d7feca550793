import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TraceFields } from '../../platform.ts';
import { patternBytes } from '../../net/testing.ts';
import { FakePlatform } from '../../testing.ts';
import { CTRL_CLASS_RX, CTRL_RX_PROMISC } from './control.ts';
import { NET_HDR_SIZE } from './header.ts';
import { TestDriver } from './testing.ts';

interface TraceEvent {
  device: string;
  event: string;
  fields: TraceFields;
}

/** A driver on a platform whose trace sink records every event. */
function tracedDriver(): { d: TestDriver; events: TraceEvent[] } {
  const events: TraceEvent[] = [];
  const platform = Object.assign(new FakePlatform(), {
    trace: (device: string, event: string, fields: TraceFields) => events.push({ device, event, fields }),
  });
  return { d: new TestDriver({ platform }), events };
}

test('trace: a transmit notification produces queue.notify and a tx.ring walk', () => {
  const { d, events } = tracedDriver();
  d.start();
  d.nic.setTransmitSink({ deliver: () => {} });
  events.length = 0;
  d.tx.add([{ addr: d.put(new Uint8Array(NET_HDR_SIZE + 60)), length: NET_HDR_SIZE + 60 }]);
  d.tx.kick();
  assert.ok(events.every((e) => e.device === 'virtio-net'));
  assert.deepEqual(
    events.map((e) => e.event),
    ['queue.notify', 'tx.ring'],
  );
  assert.deepEqual(events[0]!.fields, { queue: 1 });
  assert.deepEqual(events[1]!.fields, { avail: 1, used: 1, chains: 1, frames: 1 });
});

test('trace: receive and control walks, interrupt edges and register access', () => {
  const { d, events } = tracedDriver();
  d.start();
  const setup = events.filter((e) => e.event === 'cfg.write').map((e) => e.fields.field);
  assert.ok(setup.includes('deviceStatus') && setup.includes('queueDescLo') && setup.includes('queueEnable'), 'the probe writes named fields');
  assert.ok(events.some((e) => e.event === 'cfg.read' && e.fields.field === 'deviceFeature'));

  d.rx.add([{ addr: d.arena.alloc(1536), length: 1536, write: true }]);
  d.rx.kick();
  events.length = 0;
  const data = patternBytes(100);
  data.set([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
  d.nic.receive([{ data }]);
  assert.deepEqual(
    events.map((e) => [e.event, e.fields]),
    [
      ['irq.raise', { isr: 1 }],
      ['rx.ring', { avail: 1, used: 1, chains: 1, frames: 1 }],
    ],
  );

  events.length = 0;
  assert.equal(d.readIsr(), 1);
  assert.deepEqual(
    events.map((e) => [e.event, e.fields]),
    [
      ['irq.lower', { isr: 0 }],
      ['cfg.read', { field: 'isr', offset: 0x50, size: 1, value: 1 }],
    ],
  );

  events.length = 0;
  d.control(CTRL_CLASS_RX, CTRL_RX_PROMISC, Uint8Array.of(0));
  assert.deepEqual(
    events.filter((e) => e.event !== 'irq.raise').map((e) => [e.event, e.fields]),
    [
      ['queue.notify', { queue: 2 }],
      ['ctrl.ring', { avail: 1, used: 1, chains: 1 }],
    ],
  );
});
