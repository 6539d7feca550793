import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bootCommandLine, personaliseCommand, PromptWatcher } from './browser-guest-setup.ts';
import { TextWatch, POWER_DOWN_LINES } from '../guest-end.ts';

const config = {
  name: 'a',
  ip: ['10.0.0.1/24', '-'],
  hosts: { a: '10.0.0.1', b: '10.0.0.2' },
  nics: [
    { model: 'e1000' as const, mac: '02:76:6d:01:00:00' },
    { model: 'virtio' as const, mac: '02:76:6d:01:01:00' },
  ],
};

test('the kernel command line carries the identity for /init', () => {
  const line = bootCommandLine(config);
  assert.match(line, /(^| )console=ttyS0( |$)/);
  assert.match(line, / vmswitch\.hostname=a( |$)/);
  assert.match(line, / vmswitch\.ip=10\.0\.0\.1\/24,-( |$)/);
  assert.match(line, / vmswitch\.hosts=a=10\.0\.0\.1,b=10\.0\.0\.2( |$)/);
  assert.doesNotMatch(bootCommandLine({ name: 'x', ip: [], hosts: {} }), /vmswitch\.(ip|hosts)/);
});

test('the personalisation line sets every setting and never echoes its own marker', () => {
  const { line, marker } = personaliseCommand(config, 'n0nce');
  assert.equal(marker, 'vmsw-done-n0nce');
  assert.ok(!line.includes(marker), 'the echoed command would match the marker');
  for (const part of ['hostname=a', 'ip=10.0.0.1/24,-', 'hosts=a=10.0.0.1,b=10.0.0.2', 'mac=eth0=02:76:6d:01:00:00,eth1=02:76:6d:01:01:00']) {
    assert.ok(line.includes(part), part);
  }
  assert.notEqual(personaliseCommand(config).marker, personaliseCommand(config).marker);
});

test('boot is over after the ready line and then a prompt, across chunk boundaries', () => {
  const watcher = new PromptWatcher();
  // A prompt-looking line before the ready line does not count.
  assert.equal(watcher.feedBoot('early # '), false);
  assert.equal(watcher.feedBoot('vmswitch-re'), false);
  assert.equal(watcher.feedBoot('ady\r\n'), false);
  assert.equal(watcher.feedBoot('a:~'), false);
  assert.equal(watcher.feedBoot('# '), true);
});

test('a marker is found with its status even when split, and not in the echoed command', () => {
  const { line, marker } = personaliseCommand(config, 'abc');
  const watcher = new PromptWatcher();
  assert.equal(watcher.feedMarker(line + '\r\n', marker), false);
  assert.equal(watcher.feedMarker('vmsw-do', marker), false);
  assert.equal(watcher.feedMarker('ne-abc:1', marker), false);
  assert.equal(watcher.feedMarker('\r\na:~# ', marker), true);
  assert.equal(watcher.markerStatus, 1);
  assert.equal(watcher.afterMarker, 'a:~# ');
});

test('a prompt followed by the shell\'s cursor-position query still counts', () => {
  const watcher = new PromptWatcher();
  assert.equal(watcher.feedBoot("vmswitch-ready\r\n\r\nBusyBox v1.35.0\r\n\r\na:~# \x1b[6n"), true);
  const other = new PromptWatcher();
  assert.equal(other.feedBoot('vmswitch-ready\r\nsome output \x1b[6n'), false);
});

test('the power-down line is noticed across pieces, once', () => {
  const watch = new TextWatch(POWER_DOWN_LINES[0]!);
  assert.equal(watch.feed('a:~# poweroff\r\n[   12.3] reboot: Pow'), false);
  assert.equal(watch.feed('er down\r\n'), true);
  assert.equal(watch.feed('more'), true);
  const other = new TextWatch(POWER_DOWN_LINES[0]!);
  assert.equal(other.feed('echo reboot: Power'), false);
  assert.equal(other.feed(' up'), false);
});

test('v86 halts instead of powering off: that line counts too', () => {
  const watches = POWER_DOWN_LINES.map((line) => new TextWatch(line));
  const text = 'a:~# poweroff -f\r\n[   25.791065] reboot: System halted\r\n';
  assert.ok(watches.some((w) => w.feed(text)));
});
