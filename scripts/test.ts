// `npm test`: the type check, then every test by kind (unit, guest, e2e).
// `npm test -- unit guest` runs only the named kinds (the type check always runs).
// Node 20's --test takes no globs, so the files are found here.
import { spawnSync } from 'node:child_process';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findSources } from './find-sources.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const KINDS = ['unit', 'guest', 'e2e'] as const;
type Kind = (typeof KINDS)[number];

/** test/guest and test/e2e name their kind; everything else is unit, test/package/ included (it packs and installs the package, ~20 s, no guest). */
function kindOf(file: string): Kind {
  const rel = relative(root, file).split(sep);
  if (rel[0] === 'test' && (rel[1] === 'guest' || rel[1] === 'e2e')) return rel[1];
  return 'unit';
}

function run(label: string, command: string, args: string[]): void {
  console.log(`\n== ${label}`);
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`${label} failed (exit ${result.status ?? result.signal})`);
    process.exit(1);
  }
}

const requested = process.argv.slice(2);
for (const kind of requested) {
  if (!(KINDS as readonly string[]).includes(kind)) {
    console.error(`vmswitch test: unknown test kind '${kind}' (expected ${KINDS.join(', ')})`);
    process.exit(2);
  }
}
const kinds: Kind[] = requested.length ? (requested as Kind[]) : [...KINDS];
const files = findSources(root, '.test.ts');

run('type check', process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json']);

for (const kind of kinds) {
  const mine = files.filter((f) => kindOf(f) === kind);
  if (!mine.length) {
    console.log(`\n== ${kind} tests: none yet`);
    continue;
  }
  if (kind !== 'unit') {
    // Guest and e2e tests need the guest image (and its template snapshots); build what is missing first.
    run('guest image', process.execPath, ['bin/vmswitch.js', 'image', 'build']);
  }
  // Guests are CPU-heavy and the machines have 2 cores: one guest test file at a time.
  const concurrency = kind === 'unit' ? [] : ['--test-concurrency=1'];
  // A guest that stops answering must fail its test, never hang the run (the slowest test takes ~1 min).
  const timeout = `--test-timeout=${kind === 'unit' ? 120_000 : 600_000}`;
  run(`${kind} tests`, process.execPath, ['--import', 'tsx', '--test', timeout, ...concurrency, ...mine]);
}
