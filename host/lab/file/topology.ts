// The switch graph of a lab: links join switches; with no spanning tree the
// links must form a forest, so a link that closes a loop is refused (naming
// the loop) and two switches have at most one path between them.

/** Union-find over switch names. */
export class Components {
  private readonly parent = new Map<string, string>();

  find(name: string): string {
    let root = name;
    while (this.parent.has(root) && this.parent.get(root) !== root) root = this.parent.get(root)!;
    // Path compression keeps later finds short.
    let node = name;
    while (node !== root) {
      const next = this.parent.get(node)!;
      this.parent.set(node, root);
      node = next;
    }
    return root;
  }

  join(a: string, b: string): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) this.parent.set(ra, rb);
  }
}

export interface Edge {
  name: string;
  a: string;
  b: string;
}

export class SwitchForest {
  readonly components = new Components();
  private readonly adjacent = new Map<string, Edge[]>();

  /** Adds the link, or returns the loop it would close (switches and links in order) and leaves it out. */
  add(edge: Edge): string | null {
    if (this.components.find(edge.a) === this.components.find(edge.b)) {
      const path = this.path(edge.b, edge.a)!;
      const steps = path.map((step) => `${step.from} -[${step.edge.name}]- `).join('');
      return `${steps}${edge.a} -[${edge.name}]- ${edge.b}`;
    }
    this.components.join(edge.a, edge.b);
    for (const end of [edge.a, edge.b]) {
      const list = this.adjacent.get(end) ?? [];
      list.push(edge);
      this.adjacent.set(end, list);
    }
    return null;
  }

  /** The links from one switch to another (breadth first; in a forest the only path), or null. */
  path(from: string, to: string): { from: string; edge: Edge }[] | null {
    const via = new Map<string, { from: string; edge: Edge }>();
    const seen = new Set([from]);
    const queue = [from];
    for (let i = 0; i < queue.length; i++) {
      const here = queue[i]!;
      if (here === to) break;
      for (const edge of this.adjacent.get(here) ?? []) {
        const next = edge.a === here ? edge.b : edge.a;
        if (seen.has(next)) continue;
        seen.add(next);
        via.set(next, { from: here, edge });
        queue.push(next);
      }
    }
    if (!seen.has(to)) return null;
    const steps: { from: string; edge: Edge }[] = [];
    for (let at = to; at !== from; ) {
      const step = via.get(at)!;
      steps.unshift(step);
      at = step.from;
    }
    return steps;
  }
}
