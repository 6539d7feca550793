// Reads the yaml package's document tree field by field, recording problems
// with their line, column and field path instead of throwing. Aliases are
// followed through a table built once; every node visited (an alias counts
// what it expands to each time) is counted against LIMITS.nodes, aliases
// against LIMITS.aliases, so no file makes the walk large.
import { isAlias, isMap, isScalar, isSeq, visit, type Document, type LineCounter, type Node as YamlNode } from 'yaml';
import { LIMITS } from './schema.ts';
import { MAX_ISSUES, type LabFileIssue, type LabFileIssueCode } from './errors.ts';

/** A place in the document: the node there (null when absent), its field path and where to point. */
export interface Field {
  readonly node: unknown;
  readonly path: string;
  readonly offset: number;
}

/** Thrown inside the reader when collection must end (issue cap, node budget); caught by parse.ts. */
export class StopReading {
  constructor(readonly truncated: boolean) {}
}

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

export function childPath(path: string, key: string): string {
  const step = PLAIN_KEY.test(key) ? key : JSON.stringify(key);
  if (!PLAIN_KEY.test(key)) return `${path}[${step}]`;
  return path ? `${path}.${step}` : step;
}

function describe(value: string | number | boolean): string {
  return typeof value === 'string' ? JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value) : String(value);
}

function offsetOf(node: unknown, fallback: number): number {
  const range = (node as { range?: [number, number, number] } | null)?.range;
  return range ? range[0] : fallback;
}

/** Which node each alias stands for: the nearest earlier anchor of its name (YAML's rule). */
export function aliasTargets(doc: Document): Map<unknown, YamlNode> {
  const anchors = new Map<string, YamlNode>();
  const targets = new Map<unknown, YamlNode>();
  visit(doc, {
    Node(_key, node) {
      if (isAlias(node)) {
        const target = anchors.get(node.source);
        if (target) targets.set(node, target);
      } else if (node.anchor) {
        anchors.set(node.anchor, node);
      }
    },
  });
  return targets;
}

export class Reader {
  readonly issues: LabFileIssue[] = [];
  private nodes = 0;
  private aliases = 0;

  constructor(
    private readonly file: string,
    private readonly lines: LineCounter,
    private readonly targets: Map<unknown, YamlNode>,
  ) {}

  root(node: unknown): Field {
    return { node, path: '', offset: offsetOf(node, 0) };
  }

  error(at: Field, code: LabFileIssueCode, message: string): void {
    this.errorAt(at.offset, at.path, code, message);
  }

  errorAt(offset: number, path: string, code: LabFileIssueCode, message: string): void {
    const { line, col } = this.lines.linePos(offset);
    this.issues.push({ code, file: this.file, line: Math.max(1, line), column: Math.max(1, col), path, message });
    if (this.issues.length >= MAX_ISSUES) throw new StopReading(true);
  }

  /** The node behind a field (aliases followed), null when absent or `null`. */
  private resolve(at: Field): unknown {
    let node = at.node;
    if (++this.nodes > LIMITS.nodes) {
      this.error(at, 'too-big', `the document expands to more than ${LIMITS.nodes} nodes`);
      throw new StopReading(false);
    }
    if (isAlias(node)) {
      if (++this.aliases > LIMITS.aliases) {
        this.error(at, 'too-big', `more than ${LIMITS.aliases} aliases are used`);
        throw new StopReading(false);
      }
      const target = this.targets.get(node);
      if (!target) {
        this.error(at, 'syntax', `alias *${node.source} has no anchor before it`);
        return undefined;
      }
      node = target;
    }
    if (node === null || node === undefined) return null;
    if (isScalar(node) && node.value === null) return null;
    return node;
  }

  /** Whether the field is there with a non-null value. */
  present(at: Field): boolean {
    return at.node !== null && at.node !== undefined && !(isScalar(at.node) && at.node.value === null);
  }

  private kind(node: unknown): string {
    if (isMap(node)) return 'a mapping';
    if (isSeq(node)) return 'a list';
    if (isScalar(node)) {
      const value = node.value;
      if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}`;
      if (typeof value === 'number' || typeof value === 'boolean') return String(value);
      return `a ${typeof value}`;
    }
    return 'nothing';
  }

  /** The pairs of a mapping: [key, key's field, value's field]; non-string keys are reported. */
  private pairs(at: Field, what: string): [string, Field, Field][] | null {
    const node = this.resolve(at);
    if (node === undefined) return null;
    if (!isMap(node)) {
      this.error(at, node === null ? 'missing-field' : 'bad-type', `expected ${what}, found ${this.kind(node)}`);
      return null;
    }
    const out: [string, Field, Field][] = [];
    for (const pair of node.items) {
      const keyNode = pair.key;
      const keyOffset = offsetOf(keyNode, at.offset);
      const key = isScalar(keyNode) ? keyNode.value : undefined;
      if (typeof key !== 'string') {
        this.errorAt(keyOffset, at.path, 'bad-type', `keys must be strings, found ${this.kind(keyNode)}`);
        continue;
      }
      const path = childPath(at.path, key);
      out.push([key, { node: keyNode, path, offset: keyOffset }, { node: pair.value, path, offset: offsetOf(pair.value, keyOffset) }]);
    }
    return out;
  }

  /**
   * A mapping of known fields: unknown ones are reported at their key, `required`
   * ones when absent. Returns each present field (absent ones get a field with no node).
   */
  fields<K extends string>(at: Field, known: readonly K[], required: readonly K[] = []): Record<K, Field> | null {
    const pairs = this.pairs(at, `a mapping of ${known.join(', ')}`);
    if (!pairs) return null;
    const out = {} as Record<K, Field>;
    for (const key of known) out[key] = { node: null, path: childPath(at.path, key), offset: at.offset };
    for (const [key, keyField, valueField] of pairs) {
      if (!(known as readonly string[]).includes(key)) {
        this.error(keyField, 'unknown-field', `unknown field '${key}' (expected ${known.join(', ')})`);
        continue;
      }
      out[key as K] = valueField;
    }
    for (const key of required) if (!this.present(out[key])) this.error(out[key], 'missing-field', `'${key}' is required`);
    return out;
  }

  /** A mapping of named things (`switches: { lan1: ..., lan2: ... }`), at most `max`. */
  named(at: Field, what: string, max: number): [string, Field, Field][] | null {
    const pairs = this.pairs(at, `a mapping of ${what} by name`);
    if (!pairs) return null;
    if (pairs.length > max) {
      this.error(at, 'too-many', `more than ${max} ${what}`);
      return pairs.slice(0, max);
    }
    return pairs;
  }

  /** What a field holds (aliases followed), without counting or reporting: to choose between two shapes. */
  shape(at: Field): 'mapping' | 'list' | 'scalar' | 'absent' {
    const node = isAlias(at.node) ? this.targets.get(at.node) : at.node;
    if (isMap(node)) return 'mapping';
    if (isSeq(node)) return 'list';
    return isScalar(node) && node.value !== null ? 'scalar' : 'absent';
  }

  /** Peeks at a mapping's keys without reporting anything (to choose between two shapes). */
  keys(at: Field): string[] {
    const node = isAlias(at.node) ? this.targets.get(at.node) : at.node;
    if (!isMap(node)) return [];
    return node.items.map((pair) => (isScalar(pair.key) && typeof pair.key.value === 'string' ? pair.key.value : ''));
  }

  list(at: Field, what: string, max: number): Field[] | null {
    const node = this.resolve(at);
    if (node === undefined) return null;
    if (!isSeq(node)) {
      this.error(at, node === null ? 'missing-field' : 'bad-type', `expected a list of ${what}, found ${this.kind(node)}`);
      return null;
    }
    if (node.items.length > max) {
      this.error(at, 'too-many', `more than ${max} ${what}`);
      return null;
    }
    return node.items.map((item, i) => ({ node: item, path: `${at.path}[${i}]`, offset: offsetOf(item, at.offset) }));
  }

  /** A scalar's value (string, number or boolean), or undefined after reporting. */
  scalar(at: Field, what: string): string | number | boolean | undefined {
    const node = this.resolve(at);
    if (node === undefined) return undefined;
    const value = isScalar(node) ? node.value : undefined;
    if (typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))) return value;
    this.error(at, node === null ? 'missing-field' : 'bad-type', `expected ${what}, found ${this.kind(node)}`);
    return undefined;
  }

  string(at: Field, what = 'a string', maxLength = 4096): string | undefined {
    const value = this.scalar(at, what);
    if (value === undefined) return undefined;
    if (typeof value !== 'string') {
      this.error(at, 'bad-type', `expected ${what}, found ${describe(value)}`);
      return undefined;
    }
    if (value.length > maxLength) {
      this.error(at, 'bad-value', `longer than ${maxLength} characters`);
      return undefined;
    }
    return value;
  }

  int(at: Field, min: number, max: number, what = 'an integer'): number | undefined {
    const value = this.scalar(at, `${what} (${min}..${max})`);
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      this.error(at, 'bad-type', `expected ${what} (${min}..${max}), found ${describe(value)}`);
      return undefined;
    }
    if (value < min || value > max) {
      this.error(at, 'bad-value', `${value} is not in ${min}..${max}`);
      return undefined;
    }
    return value;
  }

  bool(at: Field): boolean | undefined {
    const value = this.scalar(at, 'true or false');
    if (value === undefined) return undefined;
    if (typeof value !== 'boolean') {
      this.error(at, 'bad-type', `expected true or false, found ${describe(value)}`);
      return undefined;
    }
    return value;
  }

  /** One of a fixed set of words. */
  choice<T extends string>(at: Field, choices: readonly T[]): T | undefined {
    const value = this.string(at, choices.join(' or '));
    if (value === undefined) return undefined;
    if (!(choices as readonly string[]).includes(value)) {
      this.error(at, 'bad-value', `'${value}' is not ${choices.join(' or ')}`);
      return undefined;
    }
    return value as T;
  }
}
