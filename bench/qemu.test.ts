import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpuPercent, cpuTicks, guestCmdline, listensOn, qemuArgs, qemuVersion } from './qemu.ts';

const image = { kernel: '/img/vmlinuz', initrd: '/img/initramfs.cpio.gz' };

test('guestCmdline: our kernel arguments plus vmswitch.* identity words', () => {
  const line = guestCmdline({ hostname: 'qa', ip: ['10.87.1.1/24'] });
  assert.match(line, /^console=ttyS0 /);
  assert.ok(line.endsWith(' vmswitch.hostname=qa vmswitch.ip=10.87.1.1/24'), line);
  assert.throws(() => guestCmdline({ hostname: 'bad name' }), /bad hostname/);
});

test('qemuArgs: TCG i686 with 128 MiB, the serial port on stdio, the image booted directly', () => {
  const args = qemuArgs({ image, hostname: 'qa' });
  const after = (flag: string) => args[args.indexOf(flag) + 1];
  assert.equal(after('-accel'), 'tcg');
  assert.equal(after('-cpu'), 'qemu32');
  assert.equal(after('-m'), '128');
  assert.equal(after('-kernel'), image.kernel);
  assert.equal(after('-initrd'), image.initrd);
  assert.equal(after('-append'), guestCmdline({ hostname: 'qa' }));
  assert.equal(after('-serial'), 'chardev:console');
  assert.ok(args.includes('-nodefaults'), 'no default NIC or display');
  assert.ok(!args.includes('-netdev'));
});

test('qemuArgs: a socket netdev on loopback, listening or connecting, for each NIC model', () => {
  const a = qemuArgs({ image, hostname: 'qa', nic: { model: 'e1000', mac: '02:51:00:00:01:01', socket: { listen: 4321 } } });
  assert.equal(a[a.indexOf('-netdev') + 1], 'socket,id=net0,listen=127.0.0.1:4321');
  assert.equal(a[a.indexOf('-device') + 1], 'e1000,netdev=net0,mac=02:51:00:00:01:01,romfile=');
  const b = qemuArgs({ image, hostname: 'qb', nic: { model: 'virtio', mac: '02:51:00:00:02:02', socket: { connect: 4321 } } });
  assert.equal(b[b.indexOf('-netdev') + 1], 'socket,id=net0,connect=127.0.0.1:4321');
  assert.equal(b[b.indexOf('-device') + 1], 'virtio-net-pci,netdev=net0,mac=02:51:00:00:02:02,romfile=');
});

test('cpuTicks: utime + stime, even when the command name holds spaces and parentheses', () => {
  // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime ...
  const stat = '4242 (qemu (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 567 9 9 20 0 3 0 100 0 0\n';
  assert.equal(cpuTicks(stat), 1234 + 567);
  assert.throws(() => cpuTicks('garbage'), /unreadable/);
});

test('cpuPercent: ticks over a wall interval as % of one core', () => {
  assert.equal(cpuPercent(50, 100, 10), 5);
  assert.equal(cpuPercent(0, 100, 10), 0);
});

test('listensOn: a LISTEN socket on 127.0.0.1:port in /proc/net/tcp, not a connection or another address', () => {
  const table = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 0100007F:10E1 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0',
    '   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0',
    '   2: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1 0 100 0 0 10 0',
  ].join('\n');
  assert.equal(listensOn(table, 4321), true); // 0x10E1
  assert.equal(listensOn(table, 8080), false); // 0x1F90: established, not listening
  assert.equal(listensOn(table, 80), false); // listening on 0.0.0.0 only
});

test('qemuVersion: undefined for a binary that cannot be run (the group then skips)', () => {
  assert.equal(qemuVersion('/nonexistent/qemu-system-i386'), undefined);
});
