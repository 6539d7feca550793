// Finds every `*.fuzz.ts` in the tree (as scripts/test.ts finds tests) and loads its targets.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { FuzzTarget } from './harness.ts';

export const root = fileURLToPath(new URL('../..', import.meta.url));

function findFuzzFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.') || name === 'build' || name === 'dist') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) findFuzzFiles(path, out);
    else if (name.endsWith('.fuzz.ts')) out.push(path);
  }
  return out.sort();
}

export async function loadTargets(): Promise<FuzzTarget[]> {
  const targets: FuzzTarget[] = [];
  const names = new Set<string>();
  for (const file of findFuzzFiles(root)) {
    const module = (await import(pathToFileURL(file).href)) as { targets?: FuzzTarget[] };
    if (!Array.isArray(module.targets)) throw new Error(`${file}: a .fuzz.ts file exports targets: FuzzTarget[]`);
    for (const target of module.targets) {
      if (names.has(target.name)) throw new Error(`${file}: fuzz target name '${target.name}' is used twice`);
      names.add(target.name);
      targets.push(target);
    }
  }
  return targets;
}
