// The extension stack: capture extensions, then filters, then at most one
// forwarding extension, top to bottom. Changes build a new ordered array
// (copy on write) so a batch or OID in progress keeps the stack it started with.
import type { Extension, ExtensionKind } from './extension.ts';

const KIND_RANK: Record<ExtensionKind, number> = { capture: 0, filter: 1, forwarding: 2 };

export class ExtensionStack {
  private captures: Extension[] = [];
  private filters: Extension[] = [];
  private forwarder: Extension | null = null;
  /** Top to bottom; replaced (never mutated) on every change. */
  ordered: readonly Extension[] = [];

  get forwarding(): Extension | null {
    return this.forwarder;
  }

  find(name: string): Extension | undefined {
    return this.ordered.find((e) => e.name === name);
  }

  indexOf(extension: Extension): number {
    return this.ordered.indexOf(extension);
  }

  /**
   * Adds an extension. `position` is its place among extensions of its kind
   * (0: topmost; default: bottom of its kind).
   */
  add(extension: Extension, position?: number): void {
    if (!extension || typeof extension.name !== 'string' || !extension.name) throw new Error('an extension needs a name');
    if (!(extension.kind in KIND_RANK)) throw new Error(`extension ${extension.name}: unknown kind ${JSON.stringify(extension.kind)}`);
    if (this.find(extension.name)) throw new Error(`an extension named ${extension.name} is already in the stack`);
    if (extension.kind === 'forwarding') {
      if (this.forwarder) throw new Error(`at most one forwarding extension: ${this.forwarder.name} is already in the stack`);
      this.forwarder = extension;
    } else {
      const list = extension.kind === 'capture' ? this.captures : this.filters;
      const at = position === undefined ? list.length : Math.max(0, Math.min(list.length, Math.trunc(position)));
      list.splice(at, 0, extension);
    }
    this.rebuild();
  }

  remove(name: string): Extension {
    const extension = this.find(name);
    if (!extension) throw new Error(`no extension named ${name} in the stack`);
    if (extension === this.forwarder) this.forwarder = null;
    else {
      const list = extension.kind === 'capture' ? this.captures : this.filters;
      list.splice(list.indexOf(extension), 1);
    }
    this.rebuild();
    return extension;
  }

  /** Reorders the capture or filter extensions: `names` lists all of that kind, top first. */
  reorder(kind: 'capture' | 'filter', names: readonly string[]): void {
    const list = kind === 'capture' ? this.captures : this.filters;
    const byName = new Map(list.map((e) => [e.name, e]));
    if (names.length !== list.length || new Set(names).size !== names.length || names.some((n) => !byName.has(n))) {
      throw new Error(`reorder ${kind}: expected a permutation of [${list.map((e) => e.name).join(', ')}]`);
    }
    const next = names.map((n) => byName.get(n)!);
    if (kind === 'capture') this.captures = next;
    else this.filters = next;
    this.rebuild();
  }

  private rebuild(): void {
    this.ordered = [...this.captures, ...this.filters, ...(this.forwarder ? [this.forwarder] : [])];
  }
}
