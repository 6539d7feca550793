// Fuzz target for the image cache's manifest.json reader: whatever the text,
// parseManifest throws ManifestFormatError or returns a manifest whose file
// list is exactly the image's four files (the stale check hashes what it names).
import type { FuzzTarget, Rng } from '../scripts/fuzz/harness.ts';
import { ManifestFormatError, OUTPUT_FILES, parseManifest } from './manifest.ts';

const GOOD = JSON.stringify({
  format: 1,
  recipeHash: '0'.repeat(64),
  kernelVersion: '6.1.0-50-686',
  packages: [{ name: 'linux-image-6.1.0-50-686', version: '6.1.158-1', role: 'kernel', debSha256: 'f'.repeat(64) }],
  modules: ['e1000', 'virtio_net'],
  builtinModules: [],
  libraries: [{ soname: 'libc.so.6', package: 'libc6' }],
  files: Object.fromEntries(Object.values(OUTPUT_FILES).map((name, i) => [name, { sha256: String(i).repeat(64), size: 1000 * i }])),
  initramfsCpioSha256: 'e'.repeat(64),
});

function junk(rng: Rng): unknown {
  return rng.pick([null, 0, -1, 1e308, '', '../x', 'a'.repeat(300), [], {}, [null], { sha256: 'a'.repeat(64), size: -1 }, true]);
}

function mutateText(rng: Rng): string {
  const bytes = new TextEncoder().encode(GOOD);
  switch (rng.int(4)) {
    case 0:
      return GOOD.slice(0, rng.int(GOOD.length));
    case 1: {
      for (let n = rng.range(1, 6); n > 0; n--) bytes[rng.int(bytes.length)]! ^= 1 << rng.int(8);
      return new TextDecoder().decode(bytes);
    }
    case 2: {
      // One field (top level or a file entry) replaced by a hostile value.
      const data = JSON.parse(GOOD) as Record<string, unknown> & { files: Record<string, unknown> };
      if (rng.chance(0.5)) data[rng.pick(Object.keys(data).concat('extra'))] = junk(rng);
      else data.files[rng.pick([...Object.values(OUTPUT_FILES), '../../etc/passwd', '__proto__'])] = rng.chance(0.5) ? junk(rng) : { sha256: 'b'.repeat(64), size: rng.edgy() };
      return JSON.stringify(data);
    }
    default:
      return new TextDecoder().decode(rng.bytes(rng.int(200)));
  }
}

export const targets: FuzzTarget[] = [
  {
    name: 'image-cache.manifest',
    quick: 10000,
    run(rng) {
      const text = mutateText(rng);
      let manifest;
      try {
        manifest = parseManifest(text);
      } catch (error) {
        if (error instanceof ManifestFormatError) return;
        throw new Error(`not a ManifestFormatError: ${(error as Error)?.stack ?? String(error)}`);
      }
      const names = Object.keys(manifest.files).sort();
      if (names.join() !== Object.values(OUTPUT_FILES).sort().join()) throw new Error(`accepted a manifest naming files ${JSON.stringify(names)}`);
      for (const file of Object.values(manifest.files)) {
        if (!/^[0-9a-f]{64}$/.test(file.sha256) || !Number.isSafeInteger(file.size) || file.size < 0) throw new Error(`accepted a file entry ${JSON.stringify(file)}`);
      }
      if (typeof manifest.kernelVersion !== 'string' || manifest.kernelVersion.includes('/')) throw new Error(`accepted kernelVersion ${JSON.stringify(manifest.kernelVersion)}`);
    },
  },
];
