import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseWebArgs, readWebLabFile, DEFAULT_PORT } from './web.ts';
import { UsageError } from '../args.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

test('defaults: 127.0.0.1 and the default port', () => {
  assert.deepEqual(parseWebArgs([]), { help: false, port: DEFAULT_PORT, host: '127.0.0.1', rebuild: false, coldOnly: false });
  assert.deepEqual(parseWebArgs(['--port', '0', '--host', '::1', '--no-templates']), { help: false, port: 0, host: '::1', rebuild: false, coldOnly: true });
  assert.equal(parseWebArgs(['--host', '0.0.0.0']).host, '0.0.0.0');
  assert.equal(parseWebArgs(['--port=65535']).port, 65535);
});

test('bad flags are usage errors naming the flag', () => {
  for (const [argv, pattern] of [
    [['--port', '65536'], /--port takes a port number/],
    [['--port', '-1'], /--port/],
    [['--port', '08'], /--port takes a port number 0-65535, not '08'/],
    [['--host', 'example.com'], /--host takes an IP address or 'localhost'/],
    [['--bogus'], /Unknown option '--bogus'/],
    [['extra'], /Unexpected argument 'extra'/],
  ] as const) {
    assert.throws(() => parseWebArgs([...argv]), (error: Error) => error instanceof UsageError && pattern.test(error.message), argv.join(' '));
  }
});

test('the CLI: one line on stderr and exit 2 for a bad flag, before building or serving anything', () => {
  const result = spawnSync(process.execPath, ['bin/vmswitch.js', 'web', '--port', 'http'], { cwd: root, encoding: 'utf8', timeout: 30_000 });
  assert.equal(result.status, 2);
  assert.equal(result.stdout, '');
  assert.equal(result.stderr.trim().split('\n').length, 1);
  assert.match(result.stderr, /^vmswitch web: --port takes a port number 0-65535, not 'http'/);
  const help = spawnSync(process.execPath, ['bin/vmswitch.js', 'web', '--help'], { cwd: root, encoding: 'utf8', timeout: 30_000 });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /usage: vmswitch web \[--port N\] \[--host ADDR\]/);
});

test('--allow-host: repeatable, host names and addresses only', () => {
  assert.deepEqual(parseWebArgs(['--allow-host', 'Lab.Example', '--allow-host', '192.168.1.5']).allowHosts, ['lab.example', '192.168.1.5']);
  assert.equal(parseWebArgs([]).allowHosts, undefined);
  for (const name of ['evil.example:80', 'http://x', 'a b', 'x_y.example', 'x..example', '']) {
    assert.throws(() => parseWebArgs(['--allow-host', name]), (error: Error) => error instanceof UsageError && /--allow-host takes a host name or an IP address/.test(error.message), name);
  }
});

test('web --shared asks for the shared switch; without it there is none', () => {
  assert.equal(parseWebArgs(['--shared']).shared, true);
  assert.equal(parseWebArgs([]).shared, undefined);
});

test('--file: a lab file for the page; not with --export', () => {
  assert.equal(parseWebArgs(['--file', 'lab.yaml']).file, 'lab.yaml');
  assert.equal(parseWebArgs([]).file, undefined);
  assert.throws(() => parseWebArgs(['--file', '']), /--file takes a lab file/);
  assert.throws(() => parseWebArgs(['--file', 'lab.yaml', '--export', 'out']), /--file does not apply/);
});

test('--file is read and checked before serving: the lab file errors of `vmswitch lab --file`, exit 2; uplinks are refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmswitch-web-file-'));
  try {
    const run = (text: string) => {
      const path = join(dir, 'lab.yaml');
      writeFileSync(path, text);
      return spawnSync(process.execPath, ['bin/vmswitch.js', 'web', '--port', '0', '--no-templates', '--file', path], { cwd: root, encoding: 'utf8', timeout: 30_000 });
    };
    const unknown = run('switches:\n  s1: {}\nvms:\n  a:\n    nics: [{ model: e1000, switch: s1 }]\n    colour: red\n');
    assert.equal(unknown.status, 2, unknown.stderr);
    assert.equal(unknown.stdout, '');
    assert.equal(unknown.stderr.trim().split('\n').length, 1);
    assert.match(unknown.stderr, /^vmswitch web: lab\.yaml:6:\d+: .*colour/);
    const uplink = run('switches:\n  s1:\n    uplinks: [{ type: vxlan, vni: 42, local: 127.0.0.1, port: 4789, peers: [127.0.0.2:4789] }]\nvms: {}\n');
    assert.equal(uplink.status, 2, uplink.stderr);
    assert.match(uplink.stderr, /^vmswitch web: --file .*lab\.yaml: switch s1 has an uplink, and a browser page cannot open one/);
    const missing = spawnSync(process.execPath, ['bin/vmswitch.js', 'web', '--file', join(dir, 'nope.yaml')], { cwd: root, encoding: 'utf8', timeout: 30_000 });
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /^vmswitch web: --file .*nope\.yaml: ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('readWebLabFile hands the page the file as written, named by its base name', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmswitch-web-file-'));
  try {
    const text = 'switches:\n  s1: {}\n  s2: {}\nlinks:\n  wan: { between: [s1, s2] }\nvms: {}\n';
    writeFileSync(join(dir, 'two.yaml'), text);
    assert.deepEqual(await readWebLabFile(join(dir, 'two.yaml')), { name: 'two.yaml', text });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
