import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatMac, formatMacAt, parseMac } from './frame.ts';

test('formatMac and parseMac: one text form, read back to the same bytes', () => {
  const mac = Uint8Array.of(0x02, 0, 0, 0xab, 0x0c, 0xff);
  assert.equal(formatMac(mac), '02:00:00:ab:0c:ff');
  assert.deepEqual(parseMac(formatMac(mac)), mac);
  assert.throws(() => parseMac('020000ab0cff'), /not a MAC address/);
});

test('formatMacAt reads a MAC inside a frame; a truncated frame gives the bytes that are there', () => {
  const frame = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0, 0x12, 0x34, 0x56, 0x08);
  assert.equal(formatMacAt(frame, 0), 'ff:ff:ff:ff:ff:ff');
  assert.equal(formatMacAt(frame, 6), '52:54:00:12:34:56');
  assert.equal(formatMacAt(frame, 10), '34:56:08');
  assert.equal(formatMacAt(frame, 6), formatMac(frame.subarray(6)));
});
