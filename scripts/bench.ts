// `npm run bench [-- GROUP...]`: runs benchmark groups (modules in bench/),
// prints a table, and merges their entries into bench/results.json.
import { readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BenchEntry, BenchGroup } from '../bench/types.ts';

const benchDir = fileURLToPath(new URL('../bench/', import.meta.url));
const resultsPath = join(benchDir, 'results.json');
/** Run order when no group is named: cheap ones first. */
const PREFERRED_ORDER = ['switch', 'e1000', 'virtio', 'boot', 'lab', 'topology', 'vxlan'];

export function availableGroups(): string[] {
  const names = readdirSync(benchDir)
    .filter((name) => name.endsWith('.ts') && !name.endsWith('.test.ts') && name !== 'types.ts')
    .map((name) => name.slice(0, -3));
  const rank = (name: string) => (PREFERRED_ORDER.includes(name) ? PREFERRED_ORDER.indexOf(name) : PREFERRED_ORDER.length);
  return names.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/** Entries of this run replace earlier entries of the same name; the rest are kept. */
export function mergeResults(previous: unknown, fresh: BenchEntry[]): BenchEntry[] {
  const kept = Array.isArray(previous)
    ? previous.filter((e): e is BenchEntry => !!e && typeof e === 'object' && typeof (e as BenchEntry).name === 'string')
    : [];
  // A name measured twice in one run (groups sharing a baseline) keeps its last figure.
  const latest = new Map(fresh.map((e) => [e.name, e]));
  const newest = fresh.filter((e) => latest.get(e.name) === e);
  return [...kept.filter((e) => !latest.has(e.name)), ...newest];
}

export function formatTable(entries: BenchEntry[]): string {
  const rows = entries.map((e) => [
    e.name,
    Number.isInteger(e.value) ? String(e.value) : e.value.toPrecision(4),
    e.unit,
    e.baseline ? `${e.ratio?.toFixed(3) ?? '?'} x ${e.baseline}` : '',
  ]);
  const header = ['name', 'value', 'unit', 'ratio'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 1 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

async function main(): Promise<number> {
  const requested = process.argv.slice(2);
  const groups = availableGroups();
  for (const name of requested) {
    if (!groups.includes(name)) {
      console.error(`vmswitch bench: unknown group '${name}' (available: ${groups.join(', ')})`);
      return 2;
    }
  }
  const chosen = requested.length ? requested : groups;
  const fresh: BenchEntry[] = [];
  for (const name of chosen) {
    console.log(`== ${name}`);
    const module = (await import(pathToFileURL(join(benchDir, `${name}.ts`)).href)) as { run?: BenchGroup };
    if (typeof module.run !== 'function') {
      console.error(`vmswitch bench: bench/${name}.ts exports no run()`);
      return 1;
    }
    const entries = await module.run();
    console.log(formatTable(entries));
    fresh.push(...entries);
  }
  let previous: unknown = [];
  try {
    previous = JSON.parse(readFileSync(resultsPath, 'utf8'));
  } catch {
    previous = [];
  }
  const merged = mergeResults(previous, fresh);
  const temp = `${resultsPath}.${process.pid}.tmp`;
  writeFileSync(temp, JSON.stringify(merged, null, 2) + '\n');
  renameSync(temp, resultsPath);
  console.log(`\n${fresh.length} entries written to ${resultsPath}`);
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await main();
}
