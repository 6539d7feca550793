// `npm run mutate [-- NAME-PREFIX...]`: checks that the unit suite notices
// the mutations in scripts/mutations.ts. The working tree (tracked files and
// new untracked ones, as they are now) is copied into a temporary folder with
// node_modules linked; each mutation is applied there alone, its test files
// are run, and the file is put back. A mutation is "killed" when its tests
// fail and "survived" when they stay green; the exit status is 1 if any
// survived (2 if the list itself is wrong: a search string that no longer
// occurs exactly once, a test file that is missing, or tests that fail
// without any mutation). The working tree is never touched.
//
// Why a script and not Stryker: Stryker's test-runner plugins are for
// Jest/Mocha/Jasmine/Karma/Vitest; node:test would need the command runner,
// which runs one whole command per mutant and cannot map mutants to the tests
// that cover them, and its generated mutants (every operator in every file)
// are thousands of runs on a 2-core machine. What the review needs is a
// short, named list of edits that were once missed, each with the tests that
// must catch it: a hand-kept list is that, in ~150 lines and no dependency.
// Not part of `npm test`: each mutation is a test run of its own.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MUTATIONS, type Mutation } from './mutations.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
/** One test run may not take longer than this (a mutation that hangs counts as killed). */
const RUN_TIMEOUT_MS = 10 * 60_000;

class MutationListError extends Error {
  override name = 'MutationListError';
}

function occurrences(text: string, search: string): number {
  let count = 0;
  for (let at = text.indexOf(search); at >= 0; at = text.indexOf(search, at + 1)) count++;
  return count;
}

/** The mutated text of the mutation's file, or a MutationListError naming what no longer matches. */
export function applyMutation(text: string, mutation: Mutation): string {
  if (!mutation.edits.length) throw new MutationListError(`${mutation.name}: no edits`);
  let out = text;
  for (const edit of mutation.edits) {
    const found = occurrences(out, edit.search);
    if (found !== 1) throw new MutationListError(`${mutation.name}: ${JSON.stringify(edit.search)} occurs ${found} times in ${mutation.file} (expected exactly once: the code moved; update the mutation)`);
    if (edit.search === edit.replace) throw new MutationListError(`${mutation.name}: an edit that changes nothing`);
    out = out.replace(edit.search, () => edit.replace);
  }
  return out;
}

/** Tracked files and untracked ones that are not ignored, as in the working tree now (deleted ones skipped). */
function workingTreeFiles(): string[] {
  const result = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`git ls-files failed: ${result.stderr}`);
  const files = new Set(result.stdout.split('\0').filter((f) => f && f !== 'node_modules' && !f.startsWith('node_modules/')));
  return [...files].filter((f) => existsSync(join(root, f)));
}

function scratchCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vmswitch-mutate-'));
  for (const file of workingTreeFiles()) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    copyFileSync(join(root, file), join(dir, file));
  }
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

function runTests(dir: string, tests: string[]): { passed: boolean; timedOut: boolean; output: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-timeout=120000', ...tests], {
    cwd: dir,
    encoding: 'utf8',
    timeout: RUN_TIMEOUT_MS,
    maxBuffer: 64 * 1024 * 1024,
  });
  const timedOut = result.error !== undefined && (result.error as NodeJS.ErrnoException).code === 'ETIMEDOUT';
  return { passed: result.status === 0, timedOut, output: `${result.stdout}${result.stderr}` };
}

/** The first failing test's name in node:test's output, for the report. */
function firstFailure(output: string): string {
  const match = /^\s*not ok \d+ - (.+)$/m.exec(output);
  return match ? match[1]!.trim() : 'test run failed';
}

function main(argv: string[]): number {
  const prefixes = argv.filter((a) => !a.startsWith('-'));
  const selected = prefixes.length ? MUTATIONS.filter((m) => prefixes.some((p) => m.name.startsWith(p))) : MUTATIONS;
  if (!selected.length) {
    console.error(`mutate: no mutation starts with ${prefixes.join(', ')}`);
    return 2;
  }
  // Check the whole list before spending any time on test runs.
  const originals = new Map<string, string>();
  try {
    const names = new Set<string>();
    for (const m of MUTATIONS) {
      if (names.has(m.name)) throw new MutationListError(`two mutations named ${m.name}`);
      names.add(m.name);
    }
    for (const m of selected) {
      const text = originals.get(m.file) ?? readFileSync(join(root, m.file), 'utf8');
      originals.set(m.file, text);
      applyMutation(text, m);
      for (const test of m.tests) if (!existsSync(join(root, test))) throw new MutationListError(`${m.name}: test file ${test} does not exist`);
    }
  } catch (error) {
    // A missing file is a list problem too.
    console.error(`mutate: ${(error as Error).message}`);
    return 2;
  }

  const dir = scratchCopy();
  console.log(`mutate: ${selected.length} mutations in ${dir}`);
  try {
    const allTests = [...new Set(selected.flatMap((m) => m.tests))].sort();
    const baseline = runTests(dir, allTests);
    if (!baseline.passed) {
      console.error(`mutate: the tests fail without any mutation (${firstFailure(baseline.output)}); fix them first\n${baseline.output.slice(-4000)}`);
      return 2;
    }
    const rows: { name: string; owner: string; outcome: string; detail: string }[] = [];
    for (const m of selected) {
      const path = join(dir, m.file);
      const original = originals.get(m.file)!;
      const started = Date.now();
      writeFileSync(path, applyMutation(original, m));
      let run: ReturnType<typeof runTests>;
      try {
        run = runTests(dir, m.tests);
      } finally {
        writeFileSync(path, original);
      }
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      const outcome = run.passed ? 'SURVIVED' : 'killed';
      const detail = run.passed ? m.description : run.timedOut ? 'timed out' : firstFailure(run.output);
      rows.push({ name: m.name, owner: m.owner ?? '', outcome, detail });
      console.log(`${outcome.padEnd(8)} ${m.name} (${seconds} s): ${detail}`);
    }
    const width = Math.max(...rows.map((r) => r.name.length));
    console.log(`\n${'mutation'.padEnd(width)}  ${'owner'.padEnd(6)}  outcome`);
    for (const r of rows) console.log(`${r.name.padEnd(width)}  ${r.owner.padEnd(6)}  ${r.outcome}`);
    const survived = rows.filter((r) => r.outcome === 'SURVIVED');
    console.log(`\n${rows.length - survived.length} killed, ${survived.length} survived`);
    return survived.length ? 1 : 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) process.exitCode = main(process.argv.slice(2));
