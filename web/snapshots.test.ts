import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { createHash } from 'node:crypto';
import { encodeSnapshot } from '../emulator/snapshot.ts';
import { templatePath } from '../emulator/template-cache.ts';
import type { Manifest } from '../guest-images/index.ts';
import { listSnapshots } from './snapshots.ts';

const manifest = { recipeHash: 'r1', kernelVersion: '6.1.0-50-686', files: { vmlinuz: { sha256: 'aa', size: 1 } } } as unknown as Manifest;
const imageId = createHash('sha256').update(JSON.stringify({ recipe: manifest.recipeHash, files: manifest.files })).digest('hex');

async function write(path: string, models: ('e1000' | 'virtio')[], kernelVersion = manifest.kernelVersion, memoryMiB = 128): Promise<void> {
  const header = { format: 1, memoryMiB, nics: models.map((model, i) => ({ model, mac: `02:00:00:00:00:0${i}`, state: {} })), image: { kernelVersion }, createdAt: '' };
  writeFileSync(path, await encodeSnapshot(header, new Uint8Array(16)));
}

test('only the template the runtime would restore now is offered', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmswitch-templates-'));
  try {
    assert.deepEqual(await listSnapshots(manifest, undefined, dir), {});
    const e1000 = templatePath({ imageId, memoryMiB: 128, nicModels: ['e1000'] }, dir);
    await write(e1000, ['e1000']);
    // A template of another image (or older code) with the same shape: a different file name, never listed.
    await write(join(dir, '128m-virtio-000000000000000000000000.vmsnap'), ['virtio']);
    assert.deepEqual(await listSnapshots(manifest, undefined, dir), { e1000: `/snapshots/${basename(e1000)}` });

    // The right name but a header that disagrees (kernel, NICs) is not offered either.
    const virtio = templatePath({ imageId, memoryMiB: 128, nicModels: ['virtio'] }, dir);
    await write(virtio, ['virtio'], '5.10.0');
    assert.equal((await listSnapshots(manifest, undefined, dir)).virtio, undefined);
    await write(virtio, ['e1000']);
    assert.equal((await listSnapshots(manifest, undefined, dir)).virtio, undefined);
    await write(virtio, ['virtio']);
    assert.equal((await listSnapshots(manifest, undefined, dir)).virtio, `/snapshots/${basename(virtio)}`);
    writeFileSync(virtio, 'garbage');
    assert.equal((await listSnapshots(manifest, undefined, dir)).virtio, undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
