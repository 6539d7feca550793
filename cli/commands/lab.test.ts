// `vmswitch lab --file` input errors end before any VM starts, as a
// UsageError (main prints it and exits 2: cli/main.test.ts) of one line
// naming the file, line and field; the file is read, then checked against
// the steps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../args.ts';
import { command } from './lab.ts';

async function usageError(argv: string[]): Promise<string> {
  try {
    await command.run(argv);
  } catch (error) {
    assert.ok(error instanceof UsageError, String(error));
    assert.doesNotMatch(error.message, /\n/, 'one line');
    return error.message;
  }
  assert.fail('expected a usage error');
}

test('lab --file: a missing file, a bad file and a step naming no VM of it are one-line usage errors', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmswitch-lab-cli-'));
  try {
    assert.match(await usageError(['--file', join(dir, 'none.yaml')]), /^vmswitch lab: --file .*none\.yaml: ENOENT$/);
    writeFileSync(join(dir, 'bad.yaml'), 'switches:\n  s: {}\nvms:\n  a:\n    nics: [{ model: e1000, switch: nowhere }]\n    colour: blue\n');
    assert.match(await usageError(['--file', join(dir, 'bad.yaml')]), /^vmswitch lab: bad\.yaml:5:\d+: vms\.a\.nics\[0\]\.switch: .*nowhere.* \(and 1 more\)$/);
    writeFileSync(join(dir, 'ok.yaml'), 'switches:\n  s: {}\nvms:\n  a:\n    nics: [{ model: e1000, switch: s }]\n');
    assert.match(await usageError(['--file', join(dir, 'ok.yaml'), '--exec', 'b:true']), /^vmswitch lab: --exec names 'b', which .*ok\.yaml does not define \(its VMs: a\)$/);
    assert.match(await usageError(['--file', join(dir, 'ok.yaml'), '--impair', 'wan=loss=1%']), /link 'wan', which .*ok\.yaml does not define \(its links: none\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
