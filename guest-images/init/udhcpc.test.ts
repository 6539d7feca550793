import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UDHCPC_SCRIPT } from './udhcpc.ts';

/** Runs the script on the host with a fake `ip` that records its arguments. */
function run(event: string, env: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), 'udhcpc-'));
  try {
    mkdirSync(join(dir, 'bin'));
    writeFileSync(join(dir, 'bin/ip'), `#!/bin/sh\necho "ip $*" >> "${dir}/log"\n`);
    chmodSync(join(dir, 'bin/ip'), 0o755);
    writeFileSync(join(dir, 'script'), UDHCPC_SCRIPT.replaceAll('/etc/resolv.conf', `${dir}/resolv.conf`));
    const result = spawnSync('sh', [join(dir, 'script'), event], { encoding: 'utf8', env: { PATH: `${dir}/bin:/usr/bin:/bin`, ...env } });
    const read = (f: string) => { try { return readFileSync(join(dir, f), 'utf8'); } catch { return ''; } };
    return { status: result.status, stderr: result.stderr, log: read('log'), resolv: read('resolv.conf') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('udhcpc script: valid shell; bound sets the address with its prefix, the default route and resolv.conf', () => {
  assert.equal(spawnSync('sh', ['-n'], { input: UDHCPC_SCRIPT }).status, 0);
  const r = run('bound', { interface: 'eth0', ip: '10.0.5.20', mask: '24', router: '10.0.5.1', dns: '10.0.5.1 10.0.5.2', domain: 'lab' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.log, /ip addr add 10\.0\.5\.20\/24 dev eth0/);
  assert.match(r.log, /ip route replace default via 10\.0\.5\.1 dev eth0/);
  assert.equal(r.resolv, 'search lab\nnameserver 10.0.5.1\nnameserver 10.0.5.2\n');
});

test('udhcpc script: deconfig flushes and brings the NIC up; no router leaves routes alone; no interface fails', () => {
  const d = run('deconfig', { interface: 'eth1' });
  assert.match(d.log, /ip -4 addr flush dev eth1\nip link set dev eth1 up/);
  const b = run('bound', { interface: 'eth1', ip: '10.0.6.7', mask: '16' });
  assert.match(b.log, /ip addr add 10\.0\.6\.7\/16 dev eth1/);
  assert.doesNotMatch(b.log, /route/);
  assert.equal(run('bound', {}).status, 1);
});
