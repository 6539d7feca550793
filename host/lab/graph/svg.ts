// A topology as a standalone SVG: boxes for switches and VMs, a line per NIC
// (labelled with its name, model, addresses, VLAN and impairment) and per
// link. Every node and edge is a <g> with `data-id` (model.ts ids), so tests
// and the web page find them without knowing the layout.
import { layoutTopology, type Box } from './layout.ts';
import type { GraphEdge, GraphNode, TopologyGraph } from './model.ts';

const FONT = 'font-family="Helvetica, Arial, sans-serif"';
const CHAR_WIDTH = 5.6;
const LABEL_LINE = 11;

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

function renderNode(node: GraphNode, box: Box): string {
  const fill = node.kind === 'switch' ? '#e8f0fe' : node.router ? '#fdf2e0' : '#ffffff';
  const stroke = node.kind === 'switch' ? '#3367d6' : '#555555';
  const cx = box.x + box.width / 2;
  const lines = node.details.map(
    (line, i) => `<text x="${cx}" y="${box.y + 34 + i * 14}" text-anchor="middle" font-size="10" fill="#333">${escapeXml(line)}</text>`,
  );
  return [
    `<g class="node ${node.kind}${node.router ? ' router' : ''}" data-id="${escapeXml(node.id)}">`,
    `<title>${escapeXml([node.name, ...node.details].join('\n'))}</title>`,
    `<rect x="${box.x}" y="${box.y}" width="${box.width}" height="${box.height}" rx="${node.kind === 'switch' ? 2 : 8}" fill="${fill}" stroke="${stroke}" stroke-width="1.5"/>`,
    `<text x="${cx}" y="${box.y + 18}" text-anchor="middle" font-size="12" font-weight="bold">${escapeXml(node.name)}</text>`,
    ...lines,
    '</g>',
  ].join('');
}

function label(x: number, y: number, lines: string[]): string {
  const width = Math.max(...lines.map((l) => l.length)) * CHAR_WIDTH + 8;
  const height = lines.length * LABEL_LINE + 4;
  const top = y - height / 2;
  const texts = lines.map((line, i) => `<text x="${x}" y="${top + 12 + i * LABEL_LINE}" text-anchor="middle" font-size="9" fill="#222">${escapeXml(line)}</text>`);
  return `<rect class="label" x="${x - width / 2}" y="${top}" width="${width}" height="${height}" rx="3" fill="#ffffff" fill-opacity="0.9" stroke="#cccccc" stroke-width="0.5"/>${texts.join('')}`;
}

function anchorToward(box: Box, otherY: number, offset: number): { x: number; y: number } {
  const x = box.x + box.width / 2 + offset;
  return otherY < box.y ? { x, y: box.y } : { x, y: box.y + box.height };
}

function renderEdge(edge: GraphEdge, from: Box, to: Box, offset: number, switchRowY: number): string {
  const lines = [edge.name, ...edge.details];
  const attrs = `class="edge ${edge.kind}" data-id="${escapeXml(edge.id)}" data-from="${escapeXml(edge.from)}" data-to="${escapeXml(edge.to)}"`;
  if (edge.kind === 'nic') {
    const a = anchorToward(from, to.y, offset);
    const b = anchorToward(to, from.y, offset);
    const path = `<line x1="${a.x}" y1="${a.y}" x2="${b.x}" y2="${b.y}" stroke="#777" stroke-width="1.5"/>`;
    return `<g ${attrs}><title>${escapeXml(lines.join('\n'))}</title>${path}${label((a.x + b.x) / 2, (a.y + b.y) / 2, lines)}</g>`;
  }
  // A link: straight between neighbouring switches, an arc over the row otherwise.
  const [left, right] = from.x <= to.x ? [from, to] : [to, from];
  const x1 = left.x + left.width;
  const x2 = right.x;
  const gap = x2 - x1;
  const neighbours = gap < 400;
  const lift = neighbours ? 0 : Math.min(160, 40 + gap / 6);
  const y = switchRowY + offset;
  const path = neighbours
    ? `<line x1="${x1}" y1="${y}" x2="${x2}" y2="${y}" stroke="#3367d6" stroke-width="3"/>`
    : `<path d="M ${x1} ${y} Q ${(x1 + x2) / 2} ${y - 2 * lift} ${x2} ${y}" fill="none" stroke="#3367d6" stroke-width="3"/>`;
  return `<g ${attrs}><title>${escapeXml(lines.join('\n'))}</title>${path}${label((x1 + x2) / 2, y - lift, lines)}</g>`;
}

export function toSvg(graph: TopologyGraph): string {
  const layout = layoutTopology(graph);
  const parts: string[] = [];
  // Several NICs of one VM on one switch, or two links between the same pair, get side-by-side lines.
  const seenPairs = new Map<string, number>();
  for (const edge of graph.edges) {
    const from = layout.boxes.get(edge.from);
    const to = layout.boxes.get(edge.to);
    if (!from || !to) continue;
    const pair = [edge.from, edge.to].sort().join('|');
    const index = seenPairs.get(pair) ?? 0;
    seenPairs.set(pair, index + 1);
    const offset = index === 0 ? 0 : (index % 2 ? 1 : -1) * Math.ceil(index / 2) * 14;
    parts.push(renderEdge(edge, from, to, offset, layout.switchRowY));
  }
  for (const node of graph.nodes) {
    const box = layout.boxes.get(node.id);
    if (box) parts.push(renderNode(node, box));
  }
  const { width, height } = layout;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT}>`,
    `<title>${escapeXml(graph.title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#fafafa"/>`,
    ...parts,
    '</svg>',
  ].join('\n') + '\n';
}
