// The page's bundle is built on the same Lab as Node (host/lab) and the same
// VM-thread protocol (serveVm in each VM's worker, a VmThread per VM on the
// page): no page-only lab model, no Node-only module (esbuild's metafile).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildWeb } from './build.ts';

test('the page bundles host/lab\'s Lab and the browser launch; its VM worker serves the shared protocol', async () => {
  const outDir = mkdtempSync(join(tmpdir(), 'vmswitch-bundle-'));
  try {
    const { files } = await buildWeb({ outDir, minify: false });
    const inputsOf = (name: string) => files.find((f) => f.path.endsWith(`/${name}`))!.inputs.map((p) => p.replace(/^.*?(?=(host|emulator|web)\/)/, ''));
    const app = inputsOf('app.js');
    const worker = inputsOf('vm-worker.js');
    for (const module of ['host/lab/lab.ts', 'emulator/worker/browser-launch.ts', 'emulator/worker/vm-thread.ts']) assert.ok(app.includes(module), `app.js has ${module}`);
    for (const module of ['emulator/worker/serve-vm.ts', 'emulator/worker/browser-vm.ts']) assert.ok(worker.includes(module), `vm-worker.js has ${module}`);
    assert.ok(!app.some((p) => p.startsWith('web/app/lab')), 'no page-only lab model');
    for (const nodeOnly of ['emulator/worker/node-launch.ts', 'emulator/vm.ts', 'emulator/template-cache.ts']) {
      assert.ok(!app.includes(nodeOnly) && !worker.includes(nodeOnly), `${nodeOnly} stays out of the page`);
    }
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
});
