// The package as a user installs it (install.ts: npm pack, npm install into a
// fresh project): plain JavaScript imports it without tsx, TypeScript checks a
// user's file against the shipped declarations, `npx vmswitch` runs the
// compiled CLI, and what assumed a source checkout (the template key, the page
// bundle, the image folder) works from the installed files. A unit-kind test
// (no guest), slow for one (~15 s: it compiles and bundles the project).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packAndInstall, ROOT, type InstalledPackage } from './install.ts';

let pkg: InstalledPackage;
before(() => {
  pkg = packAndInstall();
});
after(() => pkg?.remove());

/** Plain Node in the user's project: no tsx loader, whatever the test runner was started with. */
function runNode(args: string[], env: NodeJS.ProcessEnv = {}) {
  const result = spawnSync(process.execPath, args, { cwd: pkg.project, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '', ...env } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function runModule(source: string, env: NodeJS.ProcessEnv = {}) {
  const file = join(pkg.project, `check-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(file, source);
  return runNode([file], env);
}

test('the tarball ships compiled JS with declarations, the page bundle and the CLI; no sources, tests or tsx', () => {
  const files = new Set(pkg.files);
  for (const file of ['dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'bin/vmswitch.js', 'dist/web/bundle/app.js', 'dist/web/bundle/vm-worker.js', 'dist/web/bundle/index.html']) {
    assert.ok(files.has(file), `${file} is in the package`);
  }
  // Data the code reads beside itself ships too (scripts/build-package.ts RUNTIME_ASSETS).
  if (existsSync(join(ROOT, 'guest-images/keys'))) {
    const keys = readdirSync(join(ROOT, 'guest-images/keys')).filter((name) => name.endsWith('.asc'));
    for (const key of keys) assert.ok(files.has(`dist/guest-images/keys/${key}`), `the archive key ${key} is in the package`);
  }
  const sources = pkg.files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'));
  assert.deepEqual(sources, [], 'no TypeScript sources');
  assert.deepEqual(pkg.files.filter((f) => /\.(test|fuzz)\.js$|\/testing\.js$|\.map$/.test(f)), [], 'no tests, fuzzers, test helpers or source maps');
  const manifest = JSON.parse(execFileSync('tar', ['-xOzf', pkg.tarball, 'package/package.json'], { encoding: 'utf8' })) as { dependencies: Record<string, string> };
  const buildTime = ['tsx', 'esbuild', 'typescript', 'puppeteer', '@xterm/xterm', '@xterm/addon-fit'];
  assert.deepEqual(Object.keys(manifest.dependencies).filter((name) => buildTime.includes(name)), [], 'build-time packages are devDependencies');
  assert.ok('v86' in manifest.dependencies);
});

test('a plain .mjs file imports Lab, Switch and VirtualMachine and uses the switch, without tsx', () => {
  const result = runModule(`
    import { Lab, Switch, VirtualMachine } from 'vmswitch';
    const sw = new Switch({ name: 'plain' });
    const port = await sw.createPort({ type: 'synthetic', name: 'p1' });
    console.log(JSON.stringify({ lab: typeof Lab, vm: typeof VirtualMachine.start, ports: sw.ports().map((p) => p.name), id: port.id }));
  `);
  assert.equal(result.status, 0, result.stderr);
  assert.deepEqual(JSON.parse(result.stdout), { lab: 'function', vm: 'function', ports: ['p1'], id: 1 });
});

test("a user's .ts file type-checks against the shipped declarations, and a wrong one does not", () => {
  writeFileSync(
    join(pkg.project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, lib: ['ES2022', 'DOM'], types: ['node'] },
      files: ['user.ts'],
    }),
  );
  writeFileSync(
    join(pkg.project, 'user.ts'),
    `import { Lab, Switch, VirtualMachine, type VmOptions } from 'vmswitch';
const sw: Switch = new Switch({ name: 'lab' });
const options: VmOptions = { name: 'a', nics: [{ model: 'e1000', switch: sw, ip: '10.0.0.1/24' }] };
export const lab = new Lab();
export const started: Promise<VirtualMachine> = VirtualMachine.start(options);
export async function ping(): Promise<number> {
  return (await lab.exec('a', 'ping -c 1 b')).exitCode;
}
`,
  );
  /**
   * Files tsc reports errors in, other than a dependency's own declarations
   * (skipLibCheck is off so that ours are checked; a third party's missing
   * optional types are its business, not this package's).
   */
  const tscErrors = (): string[] => {
    const result = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: pkg.project, encoding: 'utf8' });
    const lines = (result.stdout + result.stderr).split('\n').filter((line) => /\(\d+,\d+\): error /.test(line));
    assert.ok(result.status === 0 || lines.length > 0, result.stdout + result.stderr);
    return lines.filter((line) => !/node_modules\//.test(line) || /node_modules\/vmswitch\//.test(line));
  };
  assert.deepEqual(tscErrors(), []);
  // Types that resolved to `any` would accept this too.
  appendFileSync(join(pkg.project, 'user.ts'), `export const wrong: VmOptions = { name: 'b', nics: [{ model: 'rtl8139' }] };\n`);
  const bad = tscErrors();
  assert.equal(bad.length, 1, bad.join('\n'));
  assert.match(bad[0]!, /^user\.ts.*"rtl8139".*NicModel/);
});

test('npx vmswitch --help runs the compiled CLI from the install', () => {
  const help = spawnSync('npx', ['--offline', '--no', '--', 'vmswitch', '--help'], { cwd: pkg.project, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /^usage: vmswitch COMMAND/);
  for (const command of ['boot', 'image', 'lab', 'demo', 'web']) assert.match(help.stdout, new RegExp(`^  ${command}$`, 'm'));
  const web = spawnSync('npx', ['--offline', '--no', '--', 'vmswitch', 'web', '--help'], { cwd: pkg.project, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  assert.equal(web.status, 0, web.stderr);
  assert.match(web.stdout, /--export DIR/);
});

test('the template key hashes the compiled emulator code: a changed .js changes it, a .d.ts does not', () => {
  const copy = mkdtempSync(join(tmpdir(), 'vmswitch-emulator-js-'));
  try {
    cpSync(join(pkg.packageDir, 'dist/emulator'), copy, { recursive: true });
    const module = join(pkg.packageDir, 'dist/emulator/template-cache.js');
    const hash = () => {
      const result = runModule(`import { hashRuntimeSources } from ${JSON.stringify(module)}; console.log(hashRuntimeSources(${JSON.stringify(copy)}));`);
      assert.equal(result.status, 0, result.stderr);
      return result.stdout.trim();
    };
    const base = hash();
    appendFileSync(join(copy, 'vm.d.ts'), '\n// declarations run nothing\n');
    assert.equal(hash(), base);
    appendFileSync(join(copy, 'vm.js'), '\n// changed\n');
    assert.notEqual(hash(), base);
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
});

test('the installed package serves its prebuilt page (no esbuild) and keeps the image in the cache, not in its folder', () => {
  const cache = mkdtempSync(join(tmpdir(), 'vmswitch-cache-'));
  try {
    const result = runModule(
      `import { ensureBundle } from ${JSON.stringify(join(pkg.packageDir, 'dist/web/build.js'))};
       import { BUILD_DIR } from ${JSON.stringify(join(pkg.packageDir, 'dist/guest-images/paths.js'))};
       const lines = [];
       const page = await ensureBundle((line) => lines.push(line));
       let esbuild = 'missing';
       try { await import('esbuild'); esbuild = 'found'; } catch {}
       console.log(JSON.stringify({ page, lines, image: BUILD_DIR, esbuild }));`,
      { XDG_CACHE_HOME: cache },
    );
    assert.equal(result.status, 0, result.stderr);
    const out = JSON.parse(result.stdout) as { page: string; lines: string[]; image: string; esbuild: string };
    assert.equal(out.esbuild, 'missing', 'the user project has no esbuild');
    assert.equal(out.page, join(pkg.packageDir, 'dist/web/bundle'));
    assert.deepEqual(out.lines, [], 'nothing was bundled');
    assert.equal(out.image, join(cache, 'vmswitch', 'image'));
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
});
