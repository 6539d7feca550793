// A lab plan as a picture: the model (what is shown), an SVG writer with its
// own layout (Node and the page), and Graphviz dot.
export { topologyGraph, describeImpairment, describeVlan } from './model.ts';
export type { TopologyGraph, GraphNode, GraphEdge } from './model.ts';
export { layoutTopology } from './layout.ts';
export { toSvg } from './svg.ts';
export { toDot } from './dot.ts';
