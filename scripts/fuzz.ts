// `npm run fuzz -- [--iterations N] [--seed S] [TARGET-PREFIX...]`: runs the
// fuzz targets (every `*.fuzz.ts` in the tree) for N iterations each (default
// 10000) from seed S (default: random, printed so a run can be repeated).
// Exit 1 when any target found a failure, 2 for bad arguments.
import { parseArgs } from 'node:util';
import { inspect } from 'node:util';
import { loadTargets } from './fuzz/discover.ts';
import { runTarget } from './fuzz/harness.ts';

function fail(message: string): never {
  console.error(`vmswitch fuzz: ${message}`);
  process.exit(2);
}

function wholeNumber(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) fail(`${flag} takes a whole number, not '${text}'`);
  return Number(text);
}

let parsed;
try {
  parsed = parseArgs({ options: { iterations: { type: 'string' }, seed: { type: 'string' }, list: { type: 'boolean' } }, allowPositionals: true });
} catch (error) {
  fail((error as Error).message);
}
const iterations = wholeNumber(parsed.values.iterations, '--iterations', 10_000);
const seed = wholeNumber(parsed.values.seed, '--seed', Math.floor(Math.random() * 2 ** 32)) >>> 0;
const all = await loadTargets();
if (parsed.values.list) {
  for (const t of all) console.log(`${t.name} (quick: ${t.quick})`);
  process.exit(0);
}
const chosen = parsed.positionals.length ? all.filter((t) => parsed.positionals.some((p) => t.name.startsWith(p))) : all;
if (!chosen.length) fail(`no fuzz target matches ${parsed.positionals.join(', ')} (have: ${all.map((t) => t.name).join(', ')})`);

console.log(`fuzzing ${chosen.length} target(s), ${iterations} iterations each, seed ${seed}`);
let failed = 0;
for (const target of chosen) {
  const result = await runTarget(target, { seed, iterations });
  const rate = result.iterations / Math.max(result.ms / 1000, 1e-3);
  console.log(`${target.name}: ${result.iterations} iterations in ${(result.ms / 1000).toFixed(1)} s (${rate.toFixed(0)}/s), ${result.failures.length} failure(s)`);
  for (const f of result.failures) {
    failed++;
    console.log(`  iteration ${f.iteration} (replay: --seed ${seed} with that iteration, or case seed ${f.seed}): ${inspect(f.error, { depth: 3 })}`);
  }
}
process.exit(failed ? 1 : 0);
