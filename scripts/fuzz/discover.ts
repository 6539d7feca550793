// Finds every `*.fuzz.ts` in the tree (as scripts/test.ts finds tests) and loads its targets.
import { fileURLToPath, pathToFileURL } from 'node:url';
import { findSources } from '../find-sources.ts';
import type { FuzzTarget } from './harness.ts';

export const root = fileURLToPath(new URL('../..', import.meta.url));

export async function loadTargets(): Promise<FuzzTarget[]> {
  const targets: FuzzTarget[] = [];
  const names = new Set<string>();
  for (const file of findSources(root, '.fuzz.ts')) {
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
