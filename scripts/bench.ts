// `npm run bench [-- GROUP...] [--vms N]`: runs benchmark groups (modules in
// bench/), prints a table, and merges their entries into bench/results.json.
// When the qemu group ran in the same invocation, figures with a QEMU
// counterpart get a `<figure>.vs_qemu` ratio (qemuRatios), printed at the end.
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

/**
 * The QEMU figure a figure of ours is compared with, and how many QEMU guests it
 * stands for: `lab.X` -> `qemu.X` (the same pair's work), `scale.N.idle.cpu.pct`
 * -> N x `qemu.idle.cpu.pct` (N idle guests), any other `X` -> `qemu.X` (e.g.
 * idle.cpu.pct, boot.cold.ms).
 */
export function qemuCounterpart(name: string): { name: string; times: number } | undefined {
  if (name.startsWith('qemu.') || name.endsWith('.vs_qemu')) return undefined;
  const scale = /^scale\.(\d+)\.idle\.cpu\.pct$/.exec(name);
  if (scale) return { name: 'qemu.idle.cpu.pct', times: Number(scale[1]) };
  if (name.startsWith('scale.')) return undefined;
  return { name: `qemu.${name.startsWith('lab.') ? name.slice(4) : name}`, times: 1 };
}

/**
 * Ratios against QEMU TCG measured in this same run (never against an older
 * run's figure in results.json: load and builds change between runs). Named
 * after the figure without its unit: lab.e1000-e1000.tcp.mibps ->
 * lab.e1000-e1000.tcp.vs_qemu. Above 1 is better for throughput, worse for
 * times and CPU.
 */
export function qemuRatios(fresh: BenchEntry[]): BenchEntry[] {
  const qemu = new Map(fresh.filter((e) => e.name.startsWith('qemu.')).map((e) => [e.name, e]));
  const ratios: BenchEntry[] = [];
  for (const entry of fresh) {
    const counterpart = qemuCounterpart(entry.name);
    const anchor = counterpart && qemu.get(counterpart.name);
    if (!counterpart || !anchor || !(anchor.value > 0)) continue;
    const ratio = entry.value / (anchor.value * counterpart.times);
    const base = entry.name.slice(0, entry.name.lastIndexOf('.'));
    const baseline = counterpart.times === 1 ? anchor.name : `${counterpart.times} x ${anchor.name}`;
    ratios.push({ name: `${base}.vs_qemu`, value: Math.round(ratio * 1000) / 1000, unit: 'x', baseline, ratio });
  }
  return ratios;
}

/** `--vms N` (the scale group's size) is taken out of the group list and passed on as VMSWITCH_BENCH_VMS. */
export function parseArgs(argv: string[], env: NodeJS.ProcessEnv): string[] {
  const groups: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--vms' || arg.startsWith('--vms=')) {
      const value = arg === '--vms' ? argv[++i] : arg.slice('--vms='.length);
      if (value === undefined || !/^\d+$/.test(value)) throw new Error(`--vms needs a number of VMs, not '${value ?? ''}'`);
      env.VMSWITCH_BENCH_VMS = value;
    } else {
      groups.push(arg);
    }
  }
  return groups;
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
  let requested: string[];
  try {
    requested = parseArgs(process.argv.slice(2), process.env);
  } catch (error) {
    console.error(`vmswitch bench: ${(error as Error).message}`);
    return 2;
  }
  const groups = availableGroups();
  for (const name of requested) {
    if (!groups.includes(name)) {
      console.error(`vmswitch bench: unknown group '${name}' (available: ${groups.join(', ')})`);
      return 2;
    }
  }
  const chosen = requested.length ? requested : groups;
  const fresh: BenchEntry[] = [];
  const failed: string[] = [];
  for (const name of chosen) {
    console.log(`== ${name}`);
    const module = (await import(pathToFileURL(join(benchDir, `${name}.ts`)).href)) as { run?: BenchGroup };
    if (typeof module.run !== 'function') {
      console.error(`vmswitch bench: bench/${name}.ts exports no run()`);
      return 1;
    }
    let entries: BenchEntry[];
    try {
      entries = await module.run();
    } catch (error) {
      // One group failing (a guest that stops answering under load) must not lose the other groups' figures.
      console.error(`vmswitch bench: group ${name} failed: ${(error as Error)?.stack ?? String(error)}`);
      failed.push(name);
      continue;
    }
    console.log(formatTable(entries));
    fresh.push(...entries);
  }
  const ratios = qemuRatios(fresh);
  if (ratios.length) {
    console.log('\n== against QEMU TCG, same run (throughput: above 1 is faster; times and CPU: below 1 is better)');
    console.log(formatTable(ratios));
    fresh.push(...ratios);
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
  if (failed.length) console.error(`vmswitch bench: failed groups: ${failed.join(', ')}`);
  return failed.length ? 1 : 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await main();
}
