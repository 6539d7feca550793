import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { Harness, TX_BUFFERS } from './testing.ts';
import { RCTL_EN, REG } from './registers.ts';
import { connectWire } from '../../net/wire.ts';
import { buildIpv4, ipv4L4Valid, patternBytes } from '../../net/testing.ts';

test('two e1000s on a plain wire: a TSO send arrives as valid MSS-sized segments', async () => {
  const a = new Harness(8 * 1024 * 1024, Uint8Array.of(0x02, 0, 0, 0, 0, 0x0a));
  const b = new Harness(8 * 1024 * 1024, Uint8Array.of(0x02, 0, 0, 0, 0, 0x0b));
  const wire = connectWire(a.nic, b.nic);
  a.setupTx(8);
  b.setupRx(64, RCTL_EN);
  const packet = buildIpv4('tcp', patternBytes(10000, 4), { seed: 'none', dstMac: [0x02, 0, 0, 0, 0, 0x0b] });
  a.memory.bytes.set(packet.data, TX_BUFFERS);
  a.putContext(0, { ipcss: packet.l3, ipcso: packet.l3 + 10, ipcse: packet.l4 - 1, tucss: packet.l4, tucso: packet.l4 + 16, paylen: 10000, tucmd: 0x07, hdrlen: packet.payload, mss: 1460 });
  a.putData(1, TX_BUFFERS, packet.data.length, 0x04 | 0x01 | 0x08, 3);
  a.w(REG.TDT, 2);
  assert.equal(b.r(REG.RDH), 0, 'delivery is asynchronous');
  await tick();
  assert.equal(b.r(REG.RDH), 7);
  for (let i = 0; i < 7; i++) {
    const rx = b.rxDesc(i);
    assert.ok(ipv4L4Valid(rx.data, packet.l3), `segment ${i}`);
    assert.equal(rx.length, (i < 6 ? 1460 : 10000 - 6 * 1460) + packet.payload + 4);
  }
  assert.equal(wire.counters.aToB.frames, 7);
  wire.disconnect();
  assert.equal(b.r(REG.STATUS) & 2, 0, 'link down after unplugging');
});
