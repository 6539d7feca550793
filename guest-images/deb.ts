// Unpacking .deb files (dpkg-deb -x) into the cache, once per package version.
// Each tree is unpacked into a temporary folder and renamed into place, so a
// half-unpacked tree is never mistaken for a complete one.
import { mkdir, rename, rm, stat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { run, type PackageInfo } from './apt.ts';
import { processAlive } from './lock.ts';

export async function extractDeb(debPath: string, pkg: PackageInfo, extractRoot: string, tmpRoot: string): Promise<{ dir: string; fresh: boolean }> {
  const dir = join(extractRoot, `${pkg.name}_${pkg.version.replace(/:/g, '%3a')}`);
  if (await stat(dir).then((s) => s.isDirectory(), () => false)) return { dir, fresh: false };
  await mkdir(extractRoot, { recursive: true });
  await mkdir(tmpRoot, { recursive: true });
  const tmp = join(tmpRoot, `extract-${process.pid}-${Date.now()}-${pkg.name}`);
  try {
    const result = await run('dpkg-deb', ['-x', debPath, tmp]);
    if (result.code !== 0) throw new Error(`dpkg-deb -x ${pkg.name} failed: ${result.stderr.trim().split('\n')[0]}`);
    try {
      await rename(tmp, dir);
    } catch (error) {
      // Another build unpacked the same version meanwhile: theirs is as good as ours.
      if (!(await stat(dir).then(() => true, () => false))) throw error;
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return { dir, fresh: true };
}

/** Removes temporary folders left by builds whose process is gone. */
export async function cleanStaleTemporaries(tmpRoot: string): Promise<void> {
  for (const name of await readdir(tmpRoot).catch(() => [] as string[])) {
    const pid = Number(/^[a-z]+-(\d+)-/.exec(name)?.[1]);
    if (!pid) continue;
    if (!processAlive(pid)) await rm(join(tmpRoot, name), { recursive: true, force: true });
  }
}
