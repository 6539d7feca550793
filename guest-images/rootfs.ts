// The guest's root file system as a set of entries, written out as a sorted,
// reproducible newc cpio (fixed mtime, uid/gid 0).
import { S_IFCHR, S_IFDIR, S_IFLNK, S_IFREG, writeCpio, type CpioEntry } from './cpio.ts';

export class RootFs {
  private readonly entries = new Map<string, CpioEntry>();

  private static clean(path: string): string {
    const name = path.replace(/^\/+/, '').replace(/\/+$/, '');
    if (!name || name.split('/').some((p) => p === '' || p === '.' || p === '..')) throw new Error(`bad path '${path}' in the guest root`);
    return name;
  }

  private put(entry: CpioEntry, replace: boolean): void {
    const existing = this.entries.get(entry.name);
    if (existing) {
      if ((existing.mode & 0o170000) === S_IFDIR && (entry.mode & 0o170000) === S_IFDIR) return;
      if (!replace) throw new Error(`'/${entry.name}' is added twice to the guest root`);
    }
    const slash = entry.name.lastIndexOf('/');
    if (slash > 0) this.dir(entry.name.slice(0, slash));
    this.entries.set(entry.name, entry);
  }

  has(path: string): boolean {
    return this.entries.has(RootFs.clean(path));
  }

  dir(path: string, mode = 0o755): this {
    this.put({ name: RootFs.clean(path), mode: S_IFDIR | mode, data: new Uint8Array(0) }, false);
    return this;
  }

  file(path: string, data: Uint8Array | string, mode = 0o644, opts: { replace?: boolean } = {}): this {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    this.put({ name: RootFs.clean(path), mode: S_IFREG | mode, data: bytes }, opts.replace ?? false);
    return this;
  }

  symlink(path: string, target: string, opts: { replace?: boolean } = {}): this {
    this.put({ name: RootFs.clean(path), mode: S_IFLNK | 0o777, data: Buffer.from(target, 'utf8') }, opts.replace ?? false);
    return this;
  }

  charDevice(path: string, major: number, minor: number, mode = 0o600): this {
    this.put({ name: RootFs.clean(path), mode: S_IFCHR | mode, data: new Uint8Array(0), rdevMajor: major, rdevMinor: minor }, false);
    return this;
  }

  /** Entries sorted by path, which puts every folder before its contents. */
  sorted(): CpioEntry[] {
    return [...this.entries.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  toCpio(): Buffer {
    return writeCpio(this.sorted());
  }
}
