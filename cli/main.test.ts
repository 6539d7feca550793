// The dispatcher's exit statuses: scripts and CI rely on a mistyped command
// failing, not on reading stderr.
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { main } from './main.ts';

/** Runs main() with console output captured instead of printed. */
async function quietly(argv: string[]): Promise<{ status: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const log = mock.method(console, 'log', (text: string) => void (out += `${text}\n`));
  const error = mock.method(console, 'error', (text: string) => void (err += `${text}\n`));
  try {
    return { status: await main(argv), out, err };
  } finally {
    log.mock.restore();
    error.mock.restore();
  }
}

test('an unknown command is a usage error (exit 2) that names it', async () => {
  const { status, err } = await quietly(['frobnicate', '--now']);
  assert.equal(status, 2);
  assert.match(err, /unknown command 'frobnicate'/);
});

test('no command prints the usage and exits 2; --help prints it and exits 0', async () => {
  const none = await quietly([]);
  assert.equal(none.status, 2);
  assert.match(none.out, /^usage: vmswitch COMMAND/);
  for (const flag of ['--help', '-h', 'help']) {
    const help = await quietly([flag]);
    assert.equal(help.status, 0, flag);
    assert.match(help.out, /commands:\n {2}boot\n/);
  }
});

test('the installed entry point turns the status into the process exit code', () => {
  const bin = fileURLToPath(new URL('../bin/vmswitch.js', import.meta.url));
  const result = spawnSync(process.execPath, [bin, 'frobnicate'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(result.status, 2, result.stderr);
  assert.match(result.stderr, /unknown command 'frobnicate'/);
});
