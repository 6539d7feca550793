import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestEndWatch, guestEndFromConsole } from './guest-end.ts';

const encoder = new TextEncoder();

test("the kernel's real last lines: Power down and System halted are a poweroff, Restarting system a reboot", () => {
  assert.equal(guestEndFromConsole('a:~# poweroff -f\r\n[   12.345678] reboot: Power down\r\n'), 'poweroff');
  assert.equal(guestEndFromConsole('a:~# halt -f\r\n[   25.791065] reboot: System halted\r\n'), 'poweroff');
  assert.equal(guestEndFromConsole('a:~# reboot -f\r\n[    9.876543] reboot: Restarting system\r\n'), 'reboot');
  assert.equal(guestEndFromConsole('a:~# echo reboot: Power up\r\nreboot: Power up\r\na:~# '), undefined);
  assert.equal(guestEndFromConsole(''), undefined);
});

test('the watch finds a last line fed a byte at a time, and keeps the end once seen', () => {
  const watch = new GuestEndWatch();
  const bytes = encoder.encode('[   12.3] reboot: System halted\r\n');
  const ends = Array.from(bytes, (byte) => watch.feed(Uint8Array.of(byte)));
  assert.deepEqual(ends.slice(0, 30), Array(30).fill(undefined));
  assert.equal(ends.at(-1), 'poweroff');
  assert.equal(watch.feed('more output'), 'poweroff');
});

test('a poweroff after a reboot line is still noticed', () => {
  const watch = new GuestEndWatch();
  assert.equal(watch.feed('reboot: Restart'), undefined);
  assert.equal(watch.feed('ing system\r\n'), 'reboot');
  assert.equal(watch.feed('... booting again ... reboot: Power down'), 'poweroff');
});
