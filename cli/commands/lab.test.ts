// `vmswitch lab --file` input errors end before any VM starts: exit 2 and one
// line naming the file, line and field (the file is read, then checked
// against the steps).
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../main.ts';

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

test('lab --file: a missing file, a bad file and a step naming no VM of it are one-line usage errors (exit 2)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmswitch-lab-cli-'));
  try {
    const missing = await quietly(['lab', '--file', join(dir, 'none.yaml')]);
    assert.equal(missing.status, 2);
    assert.match(missing.err, /^vmswitch lab: --file .*none\.yaml: ENOENT\n$/);

    writeFileSync(join(dir, 'bad.yaml'), 'switches:\n  s: {}\nvms:\n  a:\n    nics: [{ model: e1000, switch: nowhere }]\n    colour: blue\n');
    const bad = await quietly(['lab', '--file', join(dir, 'bad.yaml')]);
    assert.equal(bad.status, 2);
    assert.match(bad.err, /^vmswitch lab: bad\.yaml:5:\d+: vms\.a\.nics\[0\]\.switch: .*nowhere.* \(and 1 more\)\n$/);

    writeFileSync(join(dir, 'ok.yaml'), 'switches:\n  s: {}\nvms:\n  a:\n    nics: [{ model: e1000, switch: s }]\n');
    const step = await quietly(['lab', '--file', join(dir, 'ok.yaml'), '--exec', 'b:true']);
    assert.equal(step.status, 2);
    assert.match(step.err, /^vmswitch lab: --exec names 'b', which .*ok\.yaml does not define \(its VMs: a\)\n$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
