import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TraceFields } from '../../platform.ts';
import { Harness, TX_BUFFERS, ethFrame } from './testing.ts';
import { ICR_TXDW, ICR_TXQE, REG } from './registers.ts';

const EOP = 0x01;
const RS = 0x08;

test('a TDT write traces the access and the ring walk; the interrupt it causes traces irq.raise', () => {
  const events: { device: string; event: string; fields: TraceFields }[] = [];
  const h = new Harness(undefined, undefined, (device, event, fields) => events.push({ device, event, fields }));
  h.setupTx(8);
  h.w(REG.IMS, ICR_TXDW);
  const frame = ethFrame([0x02, 0, 0, 0, 0, 2], 100);
  h.memory.bytes.set(frame, TX_BUFFERS);
  h.putLegacy(0, TX_BUFFERS, frame.length, EOP | RS);
  events.length = 0;
  h.w(REG.TDT, 1);
  assert.deepEqual(events[0], { device: 'e1000', event: 'mmio.write', fields: { reg: 'TDT', offset: REG.TDT, size: 4, value: 1 } });
  const ring = events.find((e) => e.event === 'tx.ring');
  assert.deepEqual(ring?.fields, { head: 0, tail: 1, descriptors: 1, headAfter: 1 });
  const raise = events.find((e) => e.event === 'irq.raise');
  assert.deepEqual(raise?.fields, { icr: ICR_TXDW, ims: ICR_TXDW });
  events.length = 0;
  const icr = h.r(REG.ICR);
  assert.equal(icr, ICR_TXDW | ICR_TXQE);
  assert.deepEqual(
    events.map((e) => e.event),
    ['irq.lower', 'mmio.read'],
  );
  assert.deepEqual(events[1]!.fields, { reg: 'ICR', offset: REG.ICR, size: 4, value: icr });
});

test('without a trace sink nothing is traced (and nothing breaks)', () => {
  const h = new Harness();
  h.setupTx(8);
  h.w(REG.TDT, 0);
  assert.equal(h.platform.trace, undefined);
});
