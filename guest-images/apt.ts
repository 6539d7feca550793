// A private apt: Debian i386 package indexes and downloads kept in our cache
// directory. It reads the machine's sources list but never writes the
// machine's apt or dpkg state (lists, cache, status and lock all live under
// `root`).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface PackageInfo {
  name: string;
  version: string;
  /** Path in the archive, e.g. pool/main/t/tcpdump/tcpdump_4.99.3-1_i386.deb. */
  filename: string;
  sha256: string;
  size: number;
  /** Names from Pre-Depends and Depends (first alternative, no versions or arch qualifiers). */
  depends: string[];
}

export type Log = (line: string) => void;

const DAY_MS = 24 * 60 * 60 * 1000;

export class MissingToolError extends Error {
  override name = 'MissingToolError';
}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command; ENOENT becomes a MissingToolError naming what the machine lacks. */
export function run(command: string, args: string[], opts: { cwd?: string; onLine?: (line: string) => void } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    let stdout = '';
    let stderr = '';
    let partial = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (!opts.onLine) return;
      partial += chunk;
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const line of lines) if (line.trim()) opts.onLine(line);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') reject(new MissingToolError(`'${command}' was not found: building the guest image this way needs apt-get and dpkg-deb (a Debian or Ubuntu machine); without them, --no-apt (or VMSWITCH_NO_APT=1) reads a Debian mirror directly`));
      else reject(error);
    });
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
  });
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Parses `apt-cache show` output (RFC 822 stanzas). */
export function parseStanzas(text: string): Array<Map<string, string>> {
  const out: Array<Map<string, string>> = [];
  let current = new Map<string, string>();
  let last = '';
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      if (current.size) out.push(current);
      current = new Map();
      continue;
    }
    if (/^\s/.test(line)) {
      if (last) current.set(last, `${current.get(last)}\n${line.trim()}`);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    last = line.slice(0, colon);
    current.set(last, line.slice(colon + 1).trim());
  }
  if (current.size) out.push(current);
  return out;
}

/** `libc6 (>= 2.34), libfoo1 | libbar1, perl:any` -> [libc6, libfoo1, perl]. */
export function dependencyNames(field: string | undefined): string[] {
  if (!field) return [];
  return field
    .split(',')
    .map((clause) => clause.split('|')[0]!.trim().split(/[\s(]/)[0]!.replace(/:[a-z0-9]+$/, ''))
    .filter(Boolean);
}

/** Package names from `apt-cache depends --recurse` output: unindented lines, virtual `<names>` left out. */
export function packagesInDependsOutput(text: string): string[] {
  return [...new Set(text.split('\n').filter((l) => l.trim() && !/^\s/.test(l) && !l.startsWith('<')).map((l) => l.trim()))];
}

export class PrivateApt {
  readonly dir: string;

  constructor(
    cacheRoot: string,
    private readonly log: Log,
  ) {
    this.dir = join(cacheRoot, 'apt');
  }

  private options(): string[] {
    const o = (key: string, value: string) => ['-o', `${key}=${value}`];
    return [
      ...o('APT::Architecture', 'i386'),
      ...o('APT::Architectures', 'i386'),
      ...o('Dir::State', join(this.dir, 'state')),
      ...o('Dir::State::Lists', join(this.dir, 'lists')),
      ...o('Dir::State::status', join(this.dir, 'status')),
      ...o('Dir::Cache', join(this.dir, 'cache')),
      ...o('Dir::Cache::archives', join(this.dir, 'cache', 'archives')),
      // Keep apt's binary cache (some machines, e.g. Docker images, turn it off): each
      // apt-cache call then takes a fraction of a second instead of re-reading the lists.
      ...o('Dir::Cache::pkgcache', 'pkgcache.bin'),
      ...o('Dir::Cache::srcpkgcache', 'srcpkgcache.bin'),
      // Downloads land in our own folders: no need to drop to the _apt user.
      ...o('APT::Sandbox::User', 'root'),
      ...o('Acquire::Languages', 'none'),
      ...o('APT::Get::List-Cleanup', 'false'),
    ];
  }

  private async prepare(): Promise<void> {
    for (const sub of ['state', 'lists/partial', 'cache/archives/partial']) await mkdir(join(this.dir, sub), { recursive: true });
    // An empty dpkg status: nothing counts as installed, so nothing of the machine leaks in.
    const status = join(this.dir, 'status');
    await stat(status).catch(() => writeFile(status, ''));
  }

  /** Refreshes the package lists at most once a day (always with force). */
  async update(force: boolean): Promise<void> {
    await this.prepare();
    const stamp = join(this.dir, 'updated-at');
    const last = Number((await readFile(stamp, 'utf8').catch(() => '0')).trim()) || 0;
    if (!force && Date.now() - last < DAY_MS && (await this.hasLists())) {
      this.log(`apt: package lists are from ${new Date(last).toISOString()} (refreshed at most daily; --force refreshes)`);
      return;
    }
    this.log('apt: refreshing Debian i386 package lists (private state in the cache) ...');
    const result = await run('apt-get', [...this.options(), '-q', 'update'], { onLine: (line) => /^(Get|Hit|Err)/.test(line) && this.log(`  ${line}`) });
    if (result.code !== 0) {
      const errors = result.stderr.split('\n').filter((l) => l.startsWith('E:') || l.startsWith('W:'));
      if (!(await this.hasLists())) throw new Error(`apt-get update failed: ${errors[0] ?? result.stderr.trim().split('\n')[0]}`);
      // Partial failures (e.g. a security mirror mid-sync) are fine as long as the packages resolve later.
      this.log(`apt: warning: some package lists failed (${errors.length} message(s), first: ${errors[0] ?? '?'}); continuing with what arrived`);
    }
    await writeFile(stamp, String(Date.now()));
  }

  private async hasLists(): Promise<boolean> {
    const names = await readdir(join(this.dir, 'lists')).catch(() => [] as string[]);
    return names.some((n) => n.includes('_Packages'));
  }

  /** Candidate versions of the named packages; names apt does not know are absent from the map. */
  async show(names: readonly string[]): Promise<Map<string, PackageInfo>> {
    const out = new Map<string, PackageInfo>();
    if (!names.length) return out;
    // Unknown and virtual names make apt-cache exit non-zero but it still prints the others.
    const result = await run('apt-cache', [...this.options(), 'show', '--no-all-versions', ...names]);
    for (const s of parseStanzas(result.stdout)) {
      const name = s.get('Package');
      const version = s.get('Version');
      const filename = s.get('Filename');
      const sha256 = s.get('SHA256');
      if (!name || !version || !filename || !sha256 || out.has(name)) continue;
      out.set(name, {
        name, version, filename, sha256,
        size: Number(s.get('Size') ?? 0),
        depends: [...dependencyNames(s.get('Pre-Depends')), ...dependencyNames(s.get('Depends'))],
      });
    }
    return out;
  }

  /** Every package name in the recursive Depends/Pre-Depends of `names` (virtual packages left out). */
  async dependsClosure(names: readonly string[]): Promise<string[]> {
    const skip = ['--no-recommends', '--no-suggests', '--no-conflicts', '--no-breaks', '--no-replaces', '--no-enhances'];
    const result = await run('apt-cache', [...this.options(), 'depends', '--recurse', ...skip, ...names]);
    if (result.code !== 0) throw new Error(`apt-cache depends failed: ${result.stderr.trim().split('\n')[0]}`);
    return packagesInDependsOutput(result.stdout);
  }

  /**
   * Makes sure every package is in `debDir` as a verified .deb; returns name -> path.
   * Downloads go to a private temporary folder and are moved into place only after
   * their sha256 matches the index, so an interrupted build leaves no corrupt file.
   */
  async download(packages: readonly PackageInfo[], debDir: string, tmpRoot: string): Promise<Map<string, string>> {
    await mkdir(debDir, { recursive: true });
    const out = new Map<string, string>();
    const missing: PackageInfo[] = [];
    for (const p of packages) {
      const path = join(debDir, debFileName(p));
      const ok = await sha256File(path).then((h) => h === p.sha256, () => false);
      if (ok) out.set(p.name, path);
      else missing.push(p);
    }
    if (!missing.length) {
      this.log(`apt: all ${packages.length} packages already in the cache (sha256 verified)`);
      return out;
    }
    const total = missing.reduce((n, p) => n + p.size, 0);
    this.log(`apt: downloading ${missing.length} package(s), ${(total / 1e6).toFixed(1)} MB ...`);
    const tmp = join(tmpRoot, `download-${process.pid}-${Date.now()}`);
    await mkdir(tmp, { recursive: true });
    try {
      const result = await run('apt-get', [...this.options(), '-q', 'download', ...missing.map((p) => `${p.name}=${p.version}`)], {
        cwd: tmp,
        onLine: (line) => /^(Get|Err)/.test(line) && this.log(`  ${line}`),
      });
      if (result.code !== 0) throw new Error(`apt-get download failed: ${result.stderr.split('\n').find((l) => l.startsWith('E:')) ?? result.stderr.trim().split('\n')[0]}`);
      const bySha = new Map(missing.map((p) => [p.sha256, p]));
      for (const file of await readdir(tmp)) {
        const p = bySha.get(await sha256File(join(tmp, file)));
        if (!p) continue;
        const path = join(debDir, debFileName(p));
        await rename(join(tmp, file), path);
        out.set(p.name, path);
        this.log(`  verified ${p.name} ${p.version} (sha256 ${p.sha256.slice(0, 12)}...)`);
      }
      const bad = missing.filter((p) => !out.has(p.name));
      if (bad.length) throw new Error(`download of ${bad.map((p) => p.name).join(', ')} did not match the index sha256`);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    return out;
  }
}

export function debFileName(p: PackageInfo): string {
  return `${p.name}_${p.version.replace(/:/g, '%3a')}_i386.deb`;
}
