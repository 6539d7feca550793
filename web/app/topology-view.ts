// The topology of a lab file on the page: the same SVG as `vmswitch graph`
// (host/lab/graph), with live rx/tx frame counters written onto each NIC and
// link edge, found by its data-id (`nic:VM.ethN`, `link:NAME`). Counters come
// from the Lab's port rows (a VM NIC's port, kept after it stops) and the link
// ports' own counters on both switches; redrawn once a second.
import { toSvg, topologyGraph } from '../../host/lab/graph/index.ts';
import type { LabTopology } from '../../host/lab/topology.ts';

const REFRESH_MS = 1000;
const SVG_NS = 'http://www.w3.org/2000/svg';

/** Frames through one edge: rx = into the switch from the port, tx = out of the switch to it. */
export interface EdgeCounters {
  rx: number;
  tx: number;
  /** The words shown on the edge. */
  text: string;
}

/** Every NIC and link edge's counters now, by data-id (ports not yet created count 0). */
export function edgeCounters(topo: LabTopology): Map<string, EdgeCounters> {
  const out = new Map<string, EdgeCounters>();
  // The latest port of each NIC: a restarted VM has a new port; its rows come in creation order.
  const latest = new Map<string, { rx: number; tx: number }>();
  for (const row of topo.lab.ports()) {
    latest.set(`nic:${row.vm}.${row.nic}`, { rx: row.counters.rxPackets, tx: row.counters.txPackets });
  }
  for (const vm of topo.plan.vms) {
    for (const nic of vm.nics) {
      const id = `nic:${vm.name}.${nic.name}`;
      const c = latest.get(id) ?? { rx: 0, tx: 0 };
      out.set(id, { ...c, text: `rx ${c.rx} · tx ${c.tx}` });
    }
  }
  for (const planLink of topo.plan.links) {
    const link = topo.links.get(planLink.name);
    let rx = 0;
    let tx = 0;
    const words: string[] = [];
    for (const end of planLink.ends) {
      const sw = topo.switches.get(end.switch)?.switch;
      const portId = sw && link?.endOn(sw)?.portId;
      const c = sw && portId ? sw.counters(portId) : undefined;
      const endRx = c?.rxPackets ?? 0;
      const endTx = c?.txPackets ?? 0;
      rx += endRx;
      tx += endTx;
      words.push(`${end.switch}: rx ${endRx} tx ${endTx}`);
    }
    out.set(`link:${planLink.name}`, { rx, tx, text: words.join(' · ') });
  }
  return out;
}

export class TopologyView {
  private readonly texts = new Map<string, SVGTextElement>();
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(
    private readonly topo: LabTopology,
    root: HTMLElement,
  ) {
    // toSvg escapes every name and label: the markup is the graph writer's, not the file's.
    root.innerHTML = toSvg(topologyGraph(topo.plan));
    const svg = root.querySelector('svg');
    svg?.classList.add('topology');
    for (const group of root.querySelectorAll<SVGGElement>('g.edge[data-id]')) {
      const id = group.dataset.id!;
      const label = group.querySelector<SVGRectElement>('rect.label');
      if (!label) continue;
      const text = document.createElementNS(SVG_NS, 'text');
      text.classList.add('counters');
      text.setAttribute('x', String(Number(label.getAttribute('x')) + Number(label.getAttribute('width')) / 2));
      text.setAttribute('y', String(Number(label.getAttribute('y')) + Number(label.getAttribute('height')) + 10));
      text.setAttribute('text-anchor', 'middle');
      text.setAttribute('font-size', '9');
      text.setAttribute('fill', '#0b6b2e');
      group.append(text);
      this.texts.set(id, text);
    }
    this.timer = setInterval(() => this.update(), REFRESH_MS);
    this.update();
  }

  update(): void {
    for (const [id, counters] of edgeCounters(this.topo)) {
      const text = this.texts.get(id);
      if (!text) continue;
      if (text.textContent !== counters.text) text.textContent = counters.text;
      const group = text.parentElement as unknown as SVGGElement;
      group.dataset.rx = String(counters.rx);
      group.dataset.tx = String(counters.tx);
    }
  }

  close(): void {
    clearInterval(this.timer);
  }
}
