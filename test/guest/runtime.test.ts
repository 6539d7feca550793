// The VM runtime against the real guest image: boot (from the template, made
// by one cold boot when missing), exec, timeouts, snapshots, the NICs' PCI
// functions and IRQs, the `vmswitch boot` CLI, and a clean exit after stop().
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureImage, type GuestImage } from '../../guest-images/index.ts';
import { ExecTimeoutError, VirtualMachine } from '../../emulator/vm.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
let image: GuestImage;
let vm: VirtualMachine;

function run(args: string[], timeoutMs = 240_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${args.join(' ')} did not exit within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

before(async () => {
  image = await ensureImage();
  vm = await VirtualMachine.start({ name: 'rt', template: true, hostname: 'rt' });
});

after(async () => {
  await vm?.stop();
});

test('the guest runs the image kernel (booted from the initramfs) with our hostname', async () => {
  const result = await vm.exec('uname -r; hostname');
  assert.equal(result.exitCode, 0);
  assert.deepEqual(result.output.trim().split('\n'), [image.manifest.kernelVersion, 'rt']);
});

test('exec reports exit codes 0, 3 and 127', async () => {
  assert.deepEqual(await vm.exec('true'), { output: '', exitCode: 0 });
  assert.deepEqual(await vm.exec('exit 3'), { output: '', exitCode: 3 });
  const missing = await vm.exec('no-such-command-here');
  assert.equal(missing.exitCode, 127);
  assert.match(missing.output, /not found/);
});

test('exec output keeps quotes, newlines, marker-like text and no trailing newline', async () => {
  const tricky = `printf '%s\\n' "__VMSX0E 0" '__VMS' "a'b\\"c"; printf 'end'`;
  assert.deepEqual(await vm.exec(tricky), { output: `__VMSX0E 0\n__VMS\na'b"c\nend`, exitCode: 0 });
  const multiline = 'for i in 1 2 3; do\n  echo line$i\ndone';
  assert.deepEqual(await vm.exec(multiline), { output: 'line1\nline2\nline3\n', exitCode: 0 });
});

test('a long command (beyond the line editor) arrives whole', async () => {
  const word = 'x'.repeat(5000);
  const result = await vm.exec(`w='${word}'; echo \${#w}`);
  assert.deepEqual(result, { output: '5000\n', exitCode: 0 });
});

test('concurrent execs are serialised and each gets its own output', async () => {
  const results = await Promise.all([1, 2, 3, 4].map((n) => vm.exec(`echo n${n}; exit ${n}`)));
  assert.deepEqual(results, [1, 2, 3, 4].map((n) => ({ output: `n${n}\n`, exitCode: n })));
});

test('a command that times out raises ExecTimeoutError and the VM stays usable', async () => {
  await assert.rejects(vm.exec('echo started; sleep 60', { timeoutMs: 1500 }), (error: unknown) => {
    assert.ok(error instanceof ExecTimeoutError);
    assert.match(error.message, /timed out after 1500 ms/);
    assert.match(error.partialOutput, /started/);
    return true;
  });
  assert.deepEqual(await vm.exec('echo still here'), { output: 'still here\n', exitCode: 0 });
});

test('the console stream carries typed input to the shell and its output back', async () => {
  const stream = vm.console.stream();
  try {
    let seen = '';
    const answered = new Promise<void>((resolve) => {
      stream.on('data', (chunk: Buffer) => {
        seen += chunk.toString('latin1');
        if (/sum=4\d\d\r?\n/.test(seen)) resolve();
      });
    });
    stream.write('echo sum=$((400+56))\n');
    await answered;
    assert.match(seen, /sum=456/);
  } finally {
    stream.destroy();
  }
  assert.deepEqual(await vm.exec('echo exec-after-console'), { output: 'exec-after-console\n', exitCode: 0 });
});

test('the networking tools run in the guest', async () => {
  const ethtool = await vm.exec('ethtool --version');
  assert.equal(ethtool.exitCode, 0, ethtool.output);
  assert.match(ethtool.output, /ethtool version \d/);
  const tcpdump = await vm.exec('tcpdump --version 2>&1');
  assert.equal(tcpdump.exitCode, 0, tcpdump.output);
  assert.match(tcpdump.output, /tcpdump version \d/);
  const iperf = await vm.exec('iperf3 --version');
  assert.equal(iperf.exitCode, 0, iperf.output);
  assert.match(iperf.output, /iperf 3\.\d+/);
});

test('snapshot, restore elsewhere, exec: guest state survives and the identity is re-applied', async () => {
  await vm.exec('echo kept > /tmp/marker-file');
  const snapshot = await vm.saveSnapshot();
  const copy = await VirtualMachine.start({ snapshot, hostname: 'copy' });
  try {
    assert.deepEqual(await copy.exec('cat /tmp/marker-file; hostname'), { output: 'kept\ncopy\n', exitCode: 0 });
    // Two guests from one snapshot must not draw the same random numbers (TCP sequence numbers, keys).
    const random = 'head -c 16 /dev/urandom | od -An -tx1';
    const [mine, theirs] = [await vm.exec(random), await copy.exec(random)];
    assert.match(mine.output, /[0-9a-f]{2}/);
    assert.notEqual(mine.output, theirs.output);
    assert.deepEqual(await copy.exec('exit 7'), { output: '', exitCode: 7 });
  } finally {
    await copy.stop();
  }
  // The original is untouched.
  assert.deepEqual(await vm.exec('hostname'), { output: 'rt\n', exitCode: 0 });
  await assert.rejects(VirtualMachine.start({ snapshot: snapshot.subarray(0, 100) }), /snapshot/);
});

test('two NICs (e1000, virtio) get PCI functions with IRQs of their own, in PCI order, with the given addresses', async () => {
  const nics = [{ model: 'e1000' as const }, { model: 'virtio' as const }];
  const a = await VirtualMachine.start({ name: 'pci', template: true, nics, ip: ['10.9.0.1/24', '10.9.1.1/24'] });
  try {
    const irqs = await a.exec("grep -E 'eth|virtio' /proc/interrupts");
    const lines = irqs.output.trim().split('\n');
    assert.equal(lines.length, 2, irqs.output);
    const numbers = lines.map((line) => Number(line.trim().split(':')[0]));
    assert.notEqual(numbers[0], numbers[1], `shared IRQ: ${irqs.output}`);
    const drivers = await a.exec('for n in eth0 eth1; do readlink /sys/class/net/$n/device/driver; done');
    assert.match(drivers.output, /e1000\n.*virtio/);
    const addr = await a.exec('cat /sys/class/net/eth0/address /sys/class/net/eth1/address');
    assert.equal(addr.output, a.nics.map((nic) => [...nic.mac].map((b) => b.toString(16).padStart(2, '0')).join(':') + '\n').join(''));
    assert.ok(a.nics.every((nic) => nic.driverReady), 'both drivers bound and ready');
    const ips = await a.exec('ip -o -4 addr show dev eth0; ip -o -4 addr show dev eth1');
    assert.match(ips.output, /eth0\s+inet 10\.9\.0\.1\/24[\s\S]*eth1\s+inet 10\.9\.1\.1\/24/);
  } finally {
    await a.stop();
  }
});

test('a guest poweroff stops the VM: pending execs fail, ended says why', async () => {
  const doomed = await VirtualMachine.start({ name: 'off', template: true });
  const pending = doomed.exec('poweroff', { timeoutMs: 60_000 });
  await assert.rejects(pending, /stopped/);
  assert.deepEqual(await doomed.ended, { reason: 'poweroff' });
  assert.equal(doomed.isStopped, true);
  await assert.rejects(doomed.exec('true'), /stopped/);
  // stop() after a poweroff is harmless, and ended of a stop() says so.
  await doomed.stop();
  const other = await VirtualMachine.start({ name: 'other', template: true });
  await other.stop();
  assert.deepEqual(await other.ended, { reason: 'stopped' });
});

test('vmswitch boot --exec prints the output and exits with the guest status; --save/--snapshot; bad flags exit 2', async () => {
  const uname = await run(['bin/vmswitch.js', 'boot', '--exec', 'uname -m']);
  assert.equal(uname.code, 0, uname.stderr);
  assert.equal(uname.stdout, 'i686\n');
  const three = await run(['bin/vmswitch.js', 'boot', '--exec', 'exit 3']);
  assert.equal(three.code, 3, three.stderr);
  const file = join(mkdtempSync(join(tmpdir(), 'vmswitch-cli-')), 'saved.vmsnap');
  const saved = await run(['bin/vmswitch.js', 'boot', '--exec', 'echo from-before > /tmp/saved', '--save', file]);
  assert.equal(saved.code, 0, saved.stderr);
  const restored = await run(['bin/vmswitch.js', 'boot', '--snapshot', file, '--exec', 'cat /tmp/saved']);
  assert.equal(restored.code, 0, restored.stderr);
  assert.equal(restored.stdout, 'from-before\n');
  const bogus = await run(['bin/vmswitch.js', 'boot', '--bogus'], 30_000);
  assert.equal(bogus.code, 2);
  assert.equal(bogus.stderr.trim().split('\n').length, 1, bogus.stderr);
  assert.match(bogus.stderr, /bogus/);
});

test('after stop() the process exits on its own within a few seconds (no timers or handles left)', async () => {
  const script = [
    "const { VirtualMachine } = await import('./emulator/vm.ts');",
    "const vm = await VirtualMachine.start({ template: true });",
    "const r = await vm.exec('echo up');",
    "await vm.stop();",
    "console.log('stopped', r.output.trim(), Date.now());",
  ].join('\n');
  const child = await run(['--import', 'tsx', '--input-type=module', '-e', script]);
  const exitedAt = Date.now();
  assert.equal(child.code, 0, child.stderr);
  const [word, output, stoppedAt] = child.stdout.trim().split(' ');
  assert.deepEqual([word, output], ['stopped', 'up']);
  assert.ok(exitedAt - Number(stoppedAt) < 5000, `exited ${exitedAt - Number(stoppedAt)} ms after stop()`);
});
