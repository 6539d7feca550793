import assert from 'node:assert/strict';
import test from 'node:test';
import { formatTraceEvent, parseTraceDevices, traceSinkFromEnv } from './trace.ts';

test('VMSWITCH_TRACE names devices as a comma list, or all', () => {
  assert.equal(parseTraceDevices(undefined), null);
  assert.equal(parseTraceDevices(''), null);
  assert.equal(parseTraceDevices(' , '), null);
  assert.deepEqual(parseTraceDevices('e1000, virtio-net'), new Set(['e1000', 'virtio-net']));
  assert.equal(parseTraceDevices('e1000,all'), 'all');
});

test('an event is one line, numbers in hex', () => {
  assert.equal(
    formatTraceEvent('e1000', 'mmio.write', { reg: 'TDT', offset: 0x3818, value: 0x1f }),
    '[trace] e1000 mmio.write reg=TDT offset=0x3818 value=0x1f',
  );
  assert.equal(formatTraceEvent('virtio-net', 'irq.lower', { level: false }), '[trace] virtio-net irq.lower level=false');
});

test('the sink prints only the named devices, and is absent when none is named', () => {
  assert.equal(traceSinkFromEnv({}), undefined);
  assert.equal(traceSinkFromEnv(undefined), undefined);
  const lines: string[] = [];
  const sink = traceSinkFromEnv({ VMSWITCH_TRACE: 'e1000' }, (line) => lines.push(line))!;
  sink('e1000', 'irq.raise', { icr: 0x80, ims: 0x9d });
  sink('virtio-net', 'irq.raise', { isr: 1 });
  assert.deepEqual(lines, ['[trace] e1000 irq.raise icr=0x80 ims=0x9d']);
  const all: string[] = [];
  const everything = traceSinkFromEnv({ VMSWITCH_TRACE: 'all' }, (line) => all.push(line))!;
  everything('virtio-net', 'irq.raise', { isr: 1 });
  assert.deepEqual(all, ['[trace] virtio-net irq.raise isr=0x1']);
});
