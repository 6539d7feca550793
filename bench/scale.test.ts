import assert from 'node:assert/strict';
import { test } from 'node:test';
import { countAnswers, meshCommand, parallelStarts, procTicks, vmCount } from './scale.ts';

test('procTicks: utime + stime of /proc/PID/stat, whatever the command name holds', () => {
  // Fields after the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
  const stat = '4242 (node (worker) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 567 0 0 20 0 12 0';
  assert.equal(procTicks(stat), 1234 + 567);
});

test('meshCommand: one ping per target, all in the background, then wait; only answers print; short for 15 targets', () => {
  const targets = Array.from({ length: 15 }, (_, i) => `10.0.0.${i + 2}`);
  const command = meshCommand(targets);
  assert.match(command, /^for ip in 10\.0\.0\.2 10\.0\.0\.3 .* 10\.0\.0\.16; do \(ping -c 1 -W \d+ \$ip >\/dev\/null 2>&1 && echo answered \$ip\) & done; wait$/);
  // One console line (emulator/exec.ts sends longer commands in acknowledged pieces).
  assert.ok(command.length < 600, `${command.length} characters`);
  assert.equal(countAnswers('answered 10.0.0.2\nanswered 10.0.0.3\n'), 2);
  assert.equal(countAnswers('PING 10.0.0.2\nno answer\n'), 0);
});

test('vmCount: 16 by default, the environment otherwise, refused when silly', () => {
  assert.equal(vmCount({}), 16);
  assert.equal(vmCount({ VMSWITCH_BENCH_VMS: '4' }), 4);
  for (const bad of ['1', '0', 'x', '2.5', '1000']) assert.throws(() => vmCount({ VMSWITCH_BENCH_VMS: bad }), /must be an integer 2-200/);
});

test('parallelStarts: all N at once by default, fewer when asked, never more than N', () => {
  assert.equal(parallelStarts(16, {}), 16);
  assert.equal(parallelStarts(16, { VMSWITCH_BENCH_SCALE_PARALLEL: '4' }), 4);
  assert.equal(parallelStarts(3, { VMSWITCH_BENCH_SCALE_PARALLEL: '8' }), 3);
  for (const bad of ['0', '-1', 'x', '1.5']) assert.throws(() => parallelStarts(16, { VMSWITCH_BENCH_SCALE_PARALLEL: bad }), /whole number >= 1/);
});
