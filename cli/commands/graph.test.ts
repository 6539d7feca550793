import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

function vmswitch(...args: string[]) {
  return spawnSync(process.execPath, ['bin/vmswitch.js', 'graph', ...args], { cwd: root, encoding: 'utf8' });
}

test('vmswitch graph writes SVG to stdout and dot to a .dot file', () => {
  const svg = vmswitch('examples/two-lans-router.yaml');
  assert.equal(svg.status, 0, svg.stderr);
  assert.match(svg.stdout, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.ok(svg.stdout.includes('data-id="vm:router"'));
  const dir = mkdtempSync(join(tmpdir(), 'vmswitch-graph-'));
  try {
    const out = join(dir, 'lab.dot');
    const dot = vmswitch('examples/trunk-two-vlans.yaml', '-o', out);
    assert.equal(dot.status, 0, dot.stderr);
    assert.match(readFileSync(out, 'utf8'), /^graph "/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('vmswitch graph: bad input is a short message and a non-zero exit', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmswitch-graph-'));
  try {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'switches:\n  s1: {}\nvms:\n  a:\n    nics: [{ model: e1000, switch: nope }]\n');
    const invalid = vmswitch(bad);
    assert.equal(invalid.status, 1);
    assert.match(invalid.stderr, /bad\.yaml:5:\d+: .*nope/);
    assert.equal(invalid.stdout, '');
    const missing = vmswitch(join(dir, 'absent.yaml'));
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /^vmswitch graph: cannot read .*absent\.yaml: ENOENT\n$/);
    const format = vmswitch('examples/lossy-wan.yaml', '--format', 'png');
    assert.equal(format.status, 2);
    assert.equal(format.stderr, "vmswitch graph: --format takes svg or dot, not 'png'\n");
    const none = vmswitch();
    assert.equal(none.status, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
