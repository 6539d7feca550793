// The files of an unpacked package, on disk (dpkg-deb -x into the cache) or in
// memory (unpacked in JS, where names differing only in case cannot collide on
// a case-insensitive disk). The image assembly reads packages only through this.
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

export type EntryKind = 'file' | 'dir' | 'symlink' | 'other';

export interface FileTree {
  /** Entries of a folder (symlinks on the way followed); [] when it is missing or not a folder. */
  entries(path: string): Promise<Array<{ name: string; kind: EntryKind }>>;
  /** A regular file's bytes, symlinks followed; undefined when missing or not a regular file. */
  read(path: string): Promise<Uint8Array | undefined>;
}

export async function listNames(tree: FileTree, path: string): Promise<string[]> {
  return (await tree.entries(path)).map((e) => e.name);
}

export class DiskTree implements FileTree {
  constructor(readonly root: string) {}

  async entries(path: string): Promise<Array<{ name: string; kind: EntryKind }>> {
    const list = await readdir(join(this.root, path), { withFileTypes: true }).catch(() => []);
    return list.map((e) => ({ name: e.name, kind: e.isDirectory() ? 'dir' : e.isFile() ? 'file' : e.isSymbolicLink() ? 'symlink' : 'other' }));
  }

  async read(path: string): Promise<Uint8Array | undefined> {
    const full = join(this.root, path);
    if (!(await stat(full).then((s) => s.isFile(), () => false))) return undefined;
    return readFile(full);
  }
}

type Node = { kind: 'file'; data: Uint8Array } | { kind: 'dir'; children: Map<string, Node> } | { kind: 'symlink'; target: string };

const MAX_SYMLINK_HOPS = 40;

/** An in-memory tree; symlinks resolve inside it (an absolute target means the tree's root, as in a chroot). */
export class MemoryTree implements FileTree {
  private readonly root: Node & { kind: 'dir' } = { kind: 'dir', children: new Map() };

  /** Adds an entry; missing parent folders are created. Paths are relative and already checked. */
  add(path: string, node: { kind: 'file'; data: Uint8Array } | { kind: 'dir' } | { kind: 'symlink'; target: string }): void {
    const parts = path.split('/').filter(Boolean);
    let dir = this.root;
    for (const part of parts.slice(0, -1)) {
      let next = dir.children.get(part);
      if (!next || next.kind !== 'dir') dir.children.set(part, (next = { kind: 'dir', children: new Map() }));
      dir = next;
    }
    const last = parts[parts.length - 1];
    if (last === undefined) return;
    const existing = dir.children.get(last);
    if (node.kind === 'dir') {
      if (existing?.kind !== 'dir') dir.children.set(last, { kind: 'dir', children: new Map() });
    } else {
      dir.children.set(last, node);
    }
  }

  /** The node at `path`, or undefined; symlinks followed (the last one too when `followLast`). */
  lookup(path: string, followLast = true): Node | undefined {
    let hops = 0;
    const walk = (parts: string[], followFinal: boolean): Node | undefined => {
      const stack: Node[] = [this.root];
      const queue = [...parts];
      while (queue.length) {
        const part = queue.shift()!;
        if (part === '' || part === '.') continue;
        if (part === '..') {
          if (stack.length > 1) stack.pop();
          continue;
        }
        const dir = stack[stack.length - 1]!;
        if (dir.kind !== 'dir') return undefined;
        const node = dir.children.get(part);
        if (!node) return undefined;
        if (node.kind === 'symlink' && (queue.length || followFinal)) {
          if (++hops > MAX_SYMLINK_HOPS) return undefined;
          const target = node.target.split('/');
          if (node.target.startsWith('/')) stack.length = 1;
          queue.unshift(...target);
          continue;
        }
        stack.push(node);
      }
      return stack[stack.length - 1];
    };
    return walk(path.split('/'), followLast);
  }

  async entries(path: string): Promise<Array<{ name: string; kind: EntryKind }>> {
    const node = this.lookup(path);
    if (node?.kind !== 'dir') return [];
    return [...node.children].map(([name, child]) => ({ name, kind: child.kind === 'dir' ? 'dir' : child.kind === 'file' ? 'file' : 'symlink' }));
  }

  async read(path: string): Promise<Uint8Array | undefined> {
    const node = this.lookup(path);
    return node?.kind === 'file' ? node.data : undefined;
  }
}
