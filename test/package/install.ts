// The package as a user gets it: `npm pack` of this checkout, installed into a
// fresh project with `npm install --offline`. The pack runs in a copy of the
// checkout, so that its dist/ (made by prepack) never shadows the sources of
// tests running beside it (bin/vmswitch.js prefers dist/). Offline: the
// package's dependencies (and @types/node, as a TypeScript user would add) are
// installed from this checkout's node_modules folders, not from the registry.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface InstalledPackage {
  /** The user's project: package.json, node_modules/vmswitch. */
  project: string;
  /** The installed package folder. */
  packageDir: string;
  tarball: string;
  /** Every file the tarball holds, relative to the package folder. */
  files: string[];
  remove(): void;
}

const NPM_QUIET = ['--no-audit', '--no-fund', '--loglevel=error'];

/** The checkout's files as git sees them: tracked and new, minus ignored ones (no build output, no node_modules). */
function checkoutFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' });
  // node_modules may be a symlink (a worktree's), which `node_modules/` in .gitignore does not match.
  return out.split('\0').filter((file) => file && file !== 'node_modules' && !file.startsWith('node_modules/'));
}

export function packAndInstall(): InstalledPackage {
  const work = mkdtempSync(join(tmpdir(), 'vmswitch-package-'));
  try {
    const copy = join(work, 'checkout');
    for (const file of checkoutFiles()) {
      const from = join(ROOT, file);
      const to = join(copy, file);
      mkdirSync(dirname(to), { recursive: true });
      // A deleted but still tracked file is skipped, as git would not pack it either.
      try {
        cpSync(from, to);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
    symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'));
    // Not --json: the prepack build prints to the same stdout.
    execFileSync('npm', ['pack', '--pack-destination', work, ...NPM_QUIET], { cwd: copy, stdio: 'pipe' });
    const { name, version } = JSON.parse(readFileSync(join(copy, 'package.json'), 'utf8')) as { name: string; version: string };
    const tarball = join(work, `${name}-${version}.tgz`);
    const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map((path) => path.replace(/^package\//, ''));

    const project = join(work, 'project');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'a-user-project', private: true, type: 'module' }));
    const manifest = JSON.parse(readFileSync(join(copy, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    const local = [...Object.keys(manifest.dependencies ?? {}), '@types/node'].map((name) => join(ROOT, 'node_modules', name));
    execFileSync('npm', ['install', '--offline', '--ignore-scripts', ...NPM_QUIET, tarball, ...local], { cwd: project, stdio: 'pipe' });
    return {
      project,
      packageDir: join(project, 'node_modules', 'vmswitch'),
      tarball,
      files,
      remove: () => rmSync(work, { recursive: true, force: true }),
    };
  } catch (error) {
    rmSync(work, { recursive: true, force: true });
    throw error;
  }
}

/** The fenced ```js block under a README heading: the README's examples are run as written. */
export function readmeExample(heading: string): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`README.md has no '## ${heading}' section`);
  const section = readme.slice(start + 1).split(/\n## /)[0]!;
  const match = /```js\n([\s\S]*?)```/.exec(section);
  if (!match) throw new Error(`README.md's '${heading}' section has no \`\`\`js block`);
  return match[1]!;
}
