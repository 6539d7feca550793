// `vmswitch lab` and `vmswitch demo` as a user runs them: bad arguments,
// a full run with steps, a guest poweroff, --oid-log and --pcap, a failing step.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

function vmswitch(args: string[], timeoutMs = 300_000, input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/vmswitch.js', ...args], { cwd: root, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    if (input !== undefined) child.stdin!.end(input);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`vmswitch ${args.join(' ')} did not exit within ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('bad arguments: one line on stderr, exit status 2, no VM started', async () => {
  for (const args of [['lab'], ['lab', '--vm', 'a:e1001'], ['lab', '--vm', 'a:e1000', '--exec', 'b:true'], ['lab', '--vm', 'a:e1000', '--sleep', 'soon'], ['demo', '--bogus']]) {
    const result = await vmswitch(args, 30_000);
    assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.equal(result.stdout, '');
  }
  const unwritable = await vmswitch(['lab', '--vm', 'a:e1000', '--oid-log', '/no/such/dir/oids.jsonl'], 30_000);
  assert.equal(unwritable.code, 2, unwritable.stderr);
  assert.match(unwritable.stderr, /--oid-log .*ENOENT/);
});

test('a run: OIDs as they happen, step output, stop/start (new port), guest poweroff, --oid-log, --pcap, counters; exit 0', { timeout: 600_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmswitch-lab-'));
  const oidLog = join(dir, 'oids.jsonl');
  const pcap = join(dir, 'lab.pcapng');
  const result = await vmswitch([
    'lab', '--vm', 'a:e1000', '--vm', 'b:virtio',
    '--exec', 'a:ping -c 2 -W 5 b',
    '--stop', 'b', '--start', 'b',
    '--exec', 'b:ping -c 1 -W 5 a && hostname',
    // -f: at once (plain busybox poweroff returns first and runs the guest's shutdown, which can take a while here).
    '--exec', 'a:poweroff -f', '--sleep', '3000',
    '--oid-log', oidLog, '--pcap', pcap,
  ]);
  assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
  assert.match(result.stdout, /2 packets transmitted, 2 packets received/);
  assert.match(result.stdout, /^b$/m, 'the output of a step');
  assert.match(result.stdout, /PORT_CREATE\s+port 1\s+a\/eth0 \(e1000\)\s+success/);
  assert.match(result.stdout, /NIC_DISCONNECT\s+port 1 nic 0\s+a\/eth0[\s\S]*a: stopped \(guest poweroff\)[\s\S]*== stop\n/, 'the poweroff ran the stop lifecycle before the lab ended');
  assert.match(result.stdout, /per-port counters[\s\S]*a\/eth0[\s\S]*b\/eth0/);

  const events = readFileSync(oidLog, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  for (const event of events) {
    for (const key of ['oid', 'vm', 'portId', 'nicIndex', 'status', 'time']) assert.ok(key in event, `${key} in ${JSON.stringify(event)}`);
  }
  const of = (vm: string) => events.filter((e) => e.vm === vm).map((e) => `${String(e.oid).replace('OID_SWITCH_', '')}@${e.portId}`);
  const start = ['PORT_CREATE', 'NIC_CREATE', 'NIC_CONNECT'];
  const stop = ['NIC_DISCONNECT', 'NIC_DELETE', 'PORT_TEARDOWN', 'PORT_DELETE'];
  // While powering off, the guest's driver shuts the adapter down first: NIC_UPDATED (status) before the stop lifecycle.
  assert.deepEqual(of('a').filter((s) => !s.startsWith('NIC_UPDATED')), [...start, ...stop].map((oid) => `${oid}@1`));
  assert.deepEqual(of('b'), [...[...start, ...stop].map((oid) => `${oid}@2`), ...[...start, ...stop].map((oid) => `${oid}@3`)]);
  assert.ok(events.every((e) => e.status === 'success'));

  const icmp = execFileSync('tshark', ['-r', pcap, '-Y', 'icmp', '-T', 'fields', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'icmp.type'], { encoding: 'utf8' });
  assert.match(icmp, /10\.0\.0\.1\t10\.0\.0\.2\t8/);
  assert.match(icmp, /10\.0\.0\.2\t10\.0\.0\.1\t0/);
});

test('a failing step: the rest is skipped, the VMs stop, exit status 1', { timeout: 300_000 }, async () => {
  const result = await vmswitch(['lab', '--vm', 'solo:virtio', '--exec', 'solo:exit 3', '--exec', 'solo:true']);
  assert.equal(result.code, 1, `${result.stdout}\n${result.stderr}`);
  assert.match(result.stdout, /\(exit status 3\)/);
  assert.match(result.stdout, /skipping the remaining 1 step/);
  assert.match(result.stdout, /PORT_DELETE\s+port 1\s+solo\/eth0/);
});

test('--console with piped input: the guest runs it, then the lab stops the VM', { timeout: 300_000 }, async () => {
  const result = await vmswitch(['lab', '--vm', 'a:virtio', '--vm', 'b:e1000', '--console', 'a'], 300_000, 'ping -c 1 -W 5 b >/dev/null && echo console-says-$((6*7))\n');
  assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
  assert.match(result.stdout, /^console-says-42\r?$/m);
  assert.match(result.stdout, /PORT_DELETE\s+port 1\s+a\/eth0/);
});

test('npm start (vmswitch demo): both pings, the lifecycles, counters, the hints; exit 0', { timeout: 300_000 }, async () => {
  const result = await vmswitch(['demo']);
  assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
  for (const oid of ['PORT_CREATE', 'NIC_CREATE', 'NIC_CONNECT', 'NIC_DISCONNECT', 'NIC_DELETE', 'PORT_TEARDOWN', 'PORT_DELETE']) {
    assert.equal(result.stdout.match(new RegExp(`${oid}\\s+port`, 'g'))?.length, 2, `${oid} twice`);
  }
  assert.equal(result.stdout.match(/3 packets transmitted, 3 packets received/g)?.length, 2);
  assert.match(result.stdout, /vmswitch web/);
  assert.match(result.stdout, /vmswitch lab .*--console a/);
});
