// Where each node of a topology goes, without Graphviz (the page draws the same
// picture): switches in a row, ordered along the links so linked switches sit
// side by side; routers (VMs on several switches) above, between their
// switches; every other VM in a grid under its switch.
import type { GraphNode, TopologyGraph } from './model.ts';

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface TopologyLayout {
  width: number;
  height: number;
  boxes: Map<string, Box>;
  /** The y of the switch row's centre (links between far switches arc above it). */
  switchRowY: number;
}

export const NODE_WIDTH = 170;
const VM_COLUMNS = 3;
const CELL_WIDTH = 210;
const CELL_HEIGHT = 150;
const MARGIN = 40;
const LINE_HEIGHT = 14;

export function nodeHeight(node: GraphNode): number {
  return 26 + LINE_HEIGHT * node.details.length;
}

/** Switch names in an order where linked switches are neighbours (breadth-first along links). */
function switchOrder(graph: TopologyGraph): string[] {
  const switches = graph.nodes.filter((n) => n.kind === 'switch').map((n) => n.id);
  const neighbours = new Map<string, string[]>(switches.map((id) => [id, []]));
  for (const edge of graph.edges) {
    if (edge.kind !== 'link') continue;
    neighbours.get(edge.from)?.push(edge.to);
    neighbours.get(edge.to)?.push(edge.from);
  }
  const order: string[] = [];
  const seen = new Set<string>();
  for (const start of switches) {
    if (seen.has(start)) continue;
    const queue = [start];
    seen.add(start);
    while (queue.length) {
      const id = queue.shift()!;
      order.push(id);
      for (const next of neighbours.get(id) ?? []) {
        if (!seen.has(next)) {
          seen.add(next);
          queue.push(next);
        }
      }
    }
  }
  return order;
}

export function layoutTopology(graph: TopologyGraph): TopologyLayout {
  const nodeById = new Map(graph.nodes.map((n) => [n.id, n]));
  const switchesOf = new Map<string, string[]>();
  for (const edge of graph.edges) {
    if (edge.kind !== 'nic') continue;
    const list = switchesOf.get(edge.from) ?? [];
    if (!list.includes(edge.to)) list.push(edge.to);
    switchesOf.set(edge.from, list);
  }
  const order = switchOrder(graph);
  const vms = graph.nodes.filter((n) => n.kind === 'vm');
  const routers = vms.filter((vm) => (switchesOf.get(vm.id)?.length ?? 0) > 1);
  const members = new Map<string, GraphNode[]>(order.map((id) => [id, []]));
  const loose: GraphNode[] = [];
  for (const vm of vms) {
    const on = switchesOf.get(vm.id) ?? [];
    if (on.length === 1) members.get(on[0]!)!.push(vm);
    else if (on.length === 0) loose.push(vm);
  }

  const boxes = new Map<string, Box>();
  const routerRowHeight = routers.length ? Math.max(...routers.map(nodeHeight)) + 70 : 0;
  const switchRowHeight = Math.max(40, ...order.map((id) => nodeHeight(nodeById.get(id)!)));
  const switchTop = MARGIN + routerRowHeight;
  const switchRowY = switchTop + switchRowHeight / 2;
  const gridTop = switchTop + switchRowHeight + 110;

  let x = MARGIN;
  let bottom = switchTop + switchRowHeight;
  const centreX = new Map<string, number>();
  for (const id of order) {
    const vmsHere = members.get(id)!;
    const columns = Math.max(1, Math.min(VM_COLUMNS, vmsHere.length));
    const columnWidth = columns * CELL_WIDTH;
    const centre = x + columnWidth / 2;
    centreX.set(id, centre);
    const node = nodeById.get(id)!;
    boxes.set(id, { x: centre - NODE_WIDTH / 2, y: switchTop, width: NODE_WIDTH, height: nodeHeight(node) });
    vmsHere.forEach((vm, i) => {
      const column = i % columns;
      const row = Math.floor(i / columns);
      const box = { x: x + column * CELL_WIDTH + (CELL_WIDTH - NODE_WIDTH) / 2, y: gridTop + row * CELL_HEIGHT, width: NODE_WIDTH, height: nodeHeight(vm) };
      boxes.set(vm.id, box);
      bottom = Math.max(bottom, box.y + box.height);
    });
    x += columnWidth;
  }

  // Routers at the mean of their switches, pushed apart left to right so none overlap.
  const placed = routers
    .map((vm) => {
      const xs = (switchesOf.get(vm.id) ?? []).map((s) => centreX.get(s) ?? MARGIN);
      return { vm, centre: xs.reduce((a, b) => a + b, 0) / xs.length };
    })
    .sort((a, b) => a.centre - b.centre || a.vm.name.localeCompare(b.vm.name));
  let nextFree = MARGIN;
  for (const { vm, centre } of placed) {
    const left = Math.max(centre - NODE_WIDTH / 2, nextFree);
    boxes.set(vm.id, { x: left, y: MARGIN, width: NODE_WIDTH, height: nodeHeight(vm) });
    nextFree = left + NODE_WIDTH + 30;
    x = Math.max(x, nextFree);
  }

  // VMs with no NIC: a row of their own at the bottom.
  const looseTop = bottom + 60;
  loose.forEach((vm, i) => {
    const box = { x: MARGIN + i * CELL_WIDTH, y: looseTop, width: NODE_WIDTH, height: nodeHeight(vm) };
    boxes.set(vm.id, box);
    bottom = Math.max(bottom, box.y + box.height);
    x = Math.max(x, box.x + CELL_WIDTH);
  });

  return { width: Math.max(x, MARGIN + NODE_WIDTH) + MARGIN, height: bottom + MARGIN, boxes, switchRowY };
}
