// The project's files whose names end in a suffix ('.test.ts', '.fuzz.ts'),
// sorted, skipping dependencies, build output and dot-folders: how the test
// runner and the fuzzer find their files (Node 20's --test takes no globs).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export function findSources(dir: string, suffix: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.') || name === 'build' || name === 'dist') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) findSources(path, suffix, out);
    else if (name.endsWith(suffix)) out.push(path);
  }
  return out.sort();
}
