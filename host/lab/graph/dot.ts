// A topology as Graphviz dot (undirected: NICs and links carry both ways), for
// people who lay it out with their own tools (`dot -Tpng`).
import type { TopologyGraph } from './model.ts';

/** A dot double-quoted string: backslash and quote escaped, newlines as dot's centred line breaks. */
function quote(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\r?\n/g, '\\n')}"`;
}

export function toDot(graph: TopologyGraph): string {
  const lines = [`graph ${quote(graph.title)} {`, '  graph [overlap=false, splines=true];', '  node [fontname="Helvetica", fontsize=10];', '  edge [fontname="Helvetica", fontsize=9];'];
  for (const node of graph.nodes) {
    const shape = node.kind === 'switch' ? 'box3d' : 'box';
    const style = node.kind === 'switch' ? 'filled' : node.router ? 'rounded,filled' : 'rounded';
    const fill = node.kind === 'switch' ? '#e8f0fe' : '#fdf2e0';
    const label = [node.name, ...node.details].join('\n');
    lines.push(`  ${quote(node.id)} [label=${quote(label)}, shape=${shape}, style=${quote(style)}, fillcolor=${quote(fill)}];`);
  }
  for (const edge of graph.edges) {
    const label = [edge.name, ...edge.details].join('\n');
    const style = edge.kind === 'link' ? ', penwidth=2' : '';
    lines.push(`  ${quote(edge.from)} -- ${quote(edge.to)} [id=${quote(edge.id)}, label=${quote(label)}${style}];`);
  }
  lines.push('}');
  return lines.join('\n') + '\n';
}
