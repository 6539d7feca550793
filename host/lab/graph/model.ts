// A lab plan as a picture's model: nodes (switches, VMs) and edges (a VM's NIC
// on a switch, a link between switches) with the labels a reader needs. The
// SVG and dot writers and the web page's topology view all start here, so the
// three show the same thing. Ids are stable (`switch:NAME`, `vm:NAME`,
// `nic:VM.ethN`, `link:NAME`) so the page can find an edge to put live
// counters on.
import type { Impairment, LabPlan, NicImpairment } from '../file/schema.ts';
import type { VlanProperty } from '../../extensions/vlan.ts';

export interface GraphNode {
  id: string;
  kind: 'switch' | 'vm';
  name: string;
  /** Lines under the name (a VM's memory and role, a switch's extensions). */
  details: string[];
  /** A VM with NICs on more than one switch, or with forwarding on. */
  router: boolean;
}

export interface GraphEdge {
  id: string;
  kind: 'nic' | 'link';
  /** Node ids: a NIC edge goes VM -> switch, a link edge switch -> switch. */
  from: string;
  to: string;
  /** The edge's name: `eth0` or the link's name. */
  name: string;
  details: string[];
}

export interface TopologyGraph {
  title: string;
  nodes: GraphNode[];
  edges: GraphEdge[];
}

/** netem-style words for one direction, e.g. `delay 50ms loss 5%`; '' when nothing is set. */
export function describeImpairment(impairment: Impairment | null): string {
  if (!impairment) return '';
  const words: string[] = [];
  if (impairment.down) words.push('down');
  if (impairment.delayMs) words.push(`delay ${formatMs(impairment.delayMs)}${impairment.jitterMs ? `±${formatMs(impairment.jitterMs)}` : ''}`);
  if (impairment.lossPercent) words.push(`loss ${impairment.lossPercent}%`);
  if (impairment.duplicatePercent) words.push(`dup ${impairment.duplicatePercent}%`);
  if (impairment.reorderPercent) words.push(`reorder ${impairment.reorderPercent}%`);
  if (impairment.rateBitsPerSecond) words.push(`rate ${formatRate(impairment.rateBitsPerSecond)}`);
  return words.join(' ');
}

function formatMs(ms: number): string {
  return ms >= 1000 && ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

function formatRate(bits: number): string {
  for (const [unit, size] of [['gbit', 1e9], ['mbit', 1e6], ['kbit', 1e3]] as const) {
    if (bits >= size) return `${+(bits / size).toFixed(3)}${unit}`;
  }
  return `${bits}bit`;
}

/** Both directions in one line: `delay 5ms` when equal, else `send: ... / receive: ...`. */
function describeBothWays(firstLabel: string, first: Impairment | null, secondLabel: string, second: Impairment | null): string | null {
  const a = describeImpairment(first);
  const b = describeImpairment(second);
  if (!a && !b) return null;
  if (a === b) return a;
  return [a && `${firstLabel} ${a}`, b && `${secondLabel} ${b}`].filter(Boolean).join(' / ');
}

function describeNicImpairment(impairment: NicImpairment): string | null {
  return describeBothWays('send:', impairment.send, 'receive:', impairment.receive);
}

export function describeVlan(vlan: VlanProperty | null): string | null {
  if (!vlan) return null;
  switch (vlan.mode) {
    case 'access':
      return `vlan ${vlan.vlanId}`;
    case 'trunk':
      return `trunk ${compressRanges(vlan.allowed) || 'none'}${vlan.nativeVlanId !== undefined ? ` native ${vlan.nativeVlanId}` : ''}`;
    default:
      return `pvlan ${vlan.primaryVlanId}/${vlan.secondaryVlanId} ${vlan.pvlanMode}`;
  }
}

/** [10, 11, 12, 20] -> '10-12,20'. */
export function compressRanges(ids: readonly number[]): string {
  const sorted = [...new Set(ids)].sort((x, y) => x - y);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(j > i ? `${sorted[i]}-${sorted[j]}` : `${sorted[i]}`);
    i = j + 1;
  }
  return parts.join(',');
}

export function topologyGraph(plan: LabPlan): TopologyGraph {
  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  for (const sw of plan.switches) {
    const details: string[] = [];
    if (sw.capture) details.push(sw.capture.enabled ? `capture${sw.capture.file ? ` ${sw.capture.file}` : ''}` : 'capture (paused)');
    if (sw.acl && (sw.acl.rules.length || sw.acl.defaultAction !== 'allow')) details.push(`acl ${sw.acl.rules.length} rule${sw.acl.rules.length === 1 ? '' : 's'}, default ${sw.acl.defaultAction}`);
    if (sw.mirror.length) details.push(`mirror ${sw.mirror.map((m) => m.name).join(', ')}`);
    nodes.push({ id: `switch:${sw.name}`, kind: 'switch', name: sw.name, details, router: false });
  }
  for (const vm of plan.vms) {
    const switches = new Set(vm.nics.map((nic) => nic.switch));
    const details = [`${vm.memoryMiB} MiB`];
    if (vm.forwarding) details.push('ip forwarding');
    if (vm.gateway) details.push(`gw ${vm.gateway}`);
    if (vm.gateway6) details.push(`gw6 ${vm.gateway6}`);
    nodes.push({ id: `vm:${vm.name}`, kind: 'vm', name: vm.name, details, router: vm.forwarding || switches.size > 1 });
    for (const nic of vm.nics) {
      const details = [nic.model, ...nic.addresses];
      if (nic.mac) details.push(nic.mac);
      const vlan = describeVlan(nic.vlan);
      if (vlan) details.push(vlan);
      const impairment = describeNicImpairment(nic.impairment);
      if (impairment) details.push(impairment);
      edges.push({ id: `nic:${vm.name}.${nic.name}`, kind: 'nic', from: `vm:${vm.name}`, to: `switch:${nic.switch}`, name: nic.name, details });
    }
  }
  for (const link of plan.links) {
    const [a, b] = link.ends;
    const details: string[] = [];
    if (link.trunk) details.push(describeVlan({ type: 'vlan', mode: 'trunk', ...link.trunk })!);
    const impairment = describeBothWays(`${a.switch}->${b.switch}:`, a.send, `${b.switch}->${a.switch}:`, b.send);
    if (impairment) details.push(impairment);
    edges.push({ id: `link:${link.name}`, kind: 'link', from: `switch:${a.switch}`, to: `switch:${b.switch}`, name: link.name, details });
  }
  return { title: plan.name ?? 'lab', nodes, edges };
}
