// One image build at a time per output folder: parallel test runs or a CLI
// started while a test builds wait for the running build instead of racing it.
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Runs fn while holding `dir/.build-lock`; a lock whose process is gone is taken over. */
export async function withBuildLock<T>(dir: string, onWait: () => void, fn: () => Promise<T>): Promise<T> {
  await mkdir(dir, { recursive: true });
  const lock = join(dir, '.build-lock');
  let announced = false;
  for (;;) {
    try {
      await mkdir(lock);
      await writeFile(join(lock, 'pid'), String(process.pid));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = Number(await readFile(join(lock, 'pid'), 'utf8').catch(() => '0'));
      const age = Date.now() - (await stat(lock).then((s) => s.mtimeMs, () => Date.now()));
      // No pid yet is normal for a moment; for long it means the owner died right after taking the lock.
      if ((pid && !processAlive(pid)) || (!pid && age > 10_000)) {
        await rm(lock, { recursive: true, force: true });
        continue;
      }
      if (!announced) onWait();
      announced = true;
      await sleep(250);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}
