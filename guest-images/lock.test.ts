import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withBuildLock } from './lock.ts';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

test('build lock: a second holder waits for the first; the lock is gone afterwards', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmswitch-lock-'));
  try {
    const events: string[] = [];
    // Ordered by conditions, not by sleeping: the first holds the lock until the second has been seen waiting.
    const firstInside = deferred();
    const secondWaiting = deferred();
    let waited = 0;
    const first = withBuildLock(dir, () => assert.fail('the first holder found the lock taken'), async () => {
      events.push('first start');
      firstInside.resolve();
      await secondWaiting.promise;
      events.push('first end');
    });
    await firstInside.promise;
    const second = withBuildLock(
      dir,
      () => {
        waited++;
        secondWaiting.resolve();
      },
      async () => {
        events.push('second');
      },
    );
    await Promise.all([first, second]);
    assert.deepEqual(events, ['first start', 'first end', 'second']);
    assert.equal(waited, 1);
    assert.equal(existsSync(join(dir, '.build-lock')), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('build lock: a lock left by a dead process is taken over', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmswitch-lock-'));
  try {
    mkdirSync(join(dir, '.build-lock'));
    // pid 2^22 + 1 is above Linux's pid_max limit, so no such process exists.
    writeFileSync(join(dir, '.build-lock', 'pid'), String(4194305));
    let ran = false;
    await withBuildLock(dir, () => assert.fail('should not wait'), async () => {
      ran = true;
    });
    assert.equal(ran, true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
