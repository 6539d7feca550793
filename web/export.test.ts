import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportLab, ExportDirError } from './export.ts';
import { parseWebArgs } from '../cli/commands/web.ts';
import { UsageError } from '../cli/args.ts';

test('--export takes a folder and no serving flags', () => {
  assert.equal(parseWebArgs(['--export', 'site']).exportDir, 'site');
  assert.equal(parseWebArgs(['--export', 'site', '--no-templates']).coldOnly, true);
  assert.equal(parseWebArgs([]).exportDir, undefined);
  for (const argv of [['--export', ''], ['--export', 'site', '--port', '1'], ['--export', 'site', '--host', '::1'], ['--export', 'site', '--rebuild'], ['--export']]) {
    assert.throws(() => parseWebArgs(argv), UsageError, argv.join(' '));
  }
});

test('an export never writes into a folder that holds something else, nor over a file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmswitch-export-target-'));
  try {
    writeFileSync(join(dir, 'thesis.tex'), 'mine');
    // Refused before anything is built or copied.
    await assert.rejects(exportLab(dir), (error: Error) => error instanceof ExportDirError && /not empty.*no lab\.json/.test(error.message));
    await assert.rejects(exportLab(join(dir, 'thesis.tex')), (error: Error) => error instanceof ExportDirError && /not a folder/.test(error.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
