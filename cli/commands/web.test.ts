import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseWebArgs, DEFAULT_PORT } from './web.ts';
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
