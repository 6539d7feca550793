// The switch panel: ports and NICs with their live state, per-port counters
// and drop reasons, the OID timeline and the last frames. It reads host/lab's
// Lab (its OID stream labelled with VM names, ports() with the counters of
// deleted ports too) and the switch's state events for ports that are no lab
// VM's (an uplink's external port), and redraws at most a few times a second.
import type { Lab, LabOidEvent } from '../../host/lab/lab.ts';
import type { StateEvent } from '../../host/events.ts';
import type { PortCounters } from '../../host/counters.ts';
import { formatMac } from '../../emulator/net/frame.ts';
import type { FrameLog } from './frame-log.ts';

/** What the panel shows: the page's Lab, its frame log, and when the page started (times are relative to it). */
export interface PanelSource {
  lab: Lab;
  frameLog: FrameLog;
  startedAt: number;
}

interface PortRow {
  id: number;
  name: string;
  type: string;
  portState: string;
  nicState: string;
  mac: string;
  friendlyName: string;
  counters: PortCounters | null;
}

const TIMELINE_LIMIT = 400;
const FRAMES_SHOWN = 40;
const MIN_DRAW_INTERVAL_MS = 250;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

const shortOid = (oid: string) => oid.replace(/^OID_SWITCH_/, '');

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export class SwitchPanel {
  /** Every port ever seen, deleted ones too (the switch forgets them; the panel shows how they ended). */
  private readonly rows = new Map<number, PortRow>();
  private readonly timeline: LabOidEvent[] = [];
  private drawScheduled = false;
  private lastDraw = -Infinity;
  private portsBody: HTMLTableSectionElement;
  private readonly timelineList: HTMLOListElement;
  private framesBody: HTMLTableSectionElement;
  private readonly totals: HTMLElement;
  private timelineDrawn = 0;
  private lastFrameSeq = -1;

  private readonly lab: Lab;

  constructor(
    private readonly source: PanelSource,
    root: HTMLElement,
  ) {
    const lab = source.lab;
    this.lab = lab;
    this.portsBody = root.querySelector<HTMLTableSectionElement>('#ports tbody')!;
    this.timelineList = root.querySelector<HTMLOListElement>('#timeline')!;
    this.framesBody = root.querySelector<HTMLTableSectionElement>('#frames tbody')!;
    this.totals = root.querySelector<HTMLElement>('#switch-totals')!;
    lab.on('oid', (event) => {
      this.timeline.push(event);
      this.schedule();
    });
    lab.switch.on('state', (event) => this.onState(event));
    lab.switch.on('drop', () => this.schedule());
    source.frameLog.onFrames = () => this.schedule();
    // Counters move without events: refresh them a few times a second.
    setInterval(() => this.schedule(), 500);
    this.schedule();
  }

  private onState(event: StateEvent): void {
    let row = this.rows.get(event.portId);
    if (!row) {
      const port = this.lab.switch.port(event.portId);
      row = { id: event.portId, name: port?.name ?? `port ${event.portId}`, type: port?.type ?? '?', portState: 'created', nicState: '—', mac: '', friendlyName: '', counters: null };
      this.rows.set(event.portId, row);
    }
    if (event.object === 'port') row.portState = event.to;
    else {
      row.nicState = event.to;
      const nic = this.lab.switch.nic(event.portId, event.nicIndex ?? 0);
      if (nic) {
        row.mac = formatMac(nic.mac);
        row.friendlyName = nic.friendlyName;
      }
    }
    this.schedule();
  }

  /**
   * At most one draw per MIN_DRAW_INTERVAL_MS: the page's thread also relays
   * every frame between the VMs, and a redraw per ping would sit in their path.
   */
  schedule(): void {
    if (this.drawScheduled) return;
    this.drawScheduled = true;
    const wait = Math.max(0, this.lastDraw + MIN_DRAW_INTERVAL_MS - performance.now());
    setTimeout(() => {
      requestAnimationFrame(() => {
        this.drawScheduled = false;
        this.lastDraw = performance.now();
        this.draw();
      });
    }, wait);
  }

  private draw(): void {
    this.drawPorts();
    this.drawTimeline();
    this.drawFrames();
  }

  private drawPorts(): void {
    // A lab VM's port: named after its VM and NIC, its counters kept after PORT_DELETE.
    for (const labPort of this.lab.ports()) {
      // Port ids are per switch: with a lab file's several switches this table is the first one's.
      if (labPort.switch !== undefined && labPort.switch !== this.lab.switch.name) continue;
      const row = this.rows.get(labPort.portId);
      if (!row) continue;
      row.name = `${labPort.vm}/${labPort.nic}`;
      row.counters = labPort.counters;
      if (labPort.mac) row.mac = labPort.mac;
    }
    for (const snapshot of this.lab.switch.ports()) {
      const row = this.rows.get(snapshot.id);
      if (!row) continue;
      row.counters = snapshot.counters;
      const nic = snapshot.nics[0];
      if (nic) {
        row.mac = nic.mac;
        row.friendlyName = nic.friendlyName;
      }
    }
    const body = el('tbody');
    for (const row of [...this.rows.values()].sort((a, b) => a.id - b.id)) {
      const tr = el('tr');
      tr.dataset.port = String(row.id);
      tr.dataset.portState = row.portState;
      tr.dataset.nicState = row.nicState;
      if (row.portState === 'deleted') tr.classList.add('gone');
      tr.append(el('td', 'num', String(row.id)));
      const name = el('td');
      name.append(el('div', 'port-name', row.name), el('div', 'sub', `${row.type} · ${row.mac || '—'}`));
      tr.append(name);
      const states = el('td');
      states.append(el('span', `badge port-${row.portState}`, row.portState), ' ', el('span', `badge nic-${row.nicState}`, row.nicState));
      tr.append(states);
      const c = row.counters;
      tr.append(el('td', 'num', c ? `${c.rxPackets}` : '—'), el('td', 'num', c ? `${c.txPackets}` : '—'));
      tr.append(el('td', 'num', c ? `${formatBytes(c.rxBytes)} / ${formatBytes(c.txBytes)}` : '—'));
      const drops = el('td', 'drops');
      const reasons = c ? Object.entries(c.drops).filter(([, n]) => n > 0) : [];
      if (!reasons.length) drops.textContent = c ? '0' : '—';
      for (const [reason, count] of reasons) drops.append(el('span', 'drop', `${reason}: ${count}`));
      tr.append(drops);
      body.append(tr);
    }
    if (!this.rows.size) {
      const tr = el('tr', 'empty');
      const td = el('td', undefined, 'No ports yet: add a VM and start it.');
      td.colSpan = 7;
      tr.append(td);
      body.append(tr);
    }
    this.portsBody.replaceWith(body);
    this.portsBody = body;

    const totals = this.lab.switch.counters();
    const capture = this.lab.capture;
    const dropped = Object.entries(totals.drops).map(([r, n]) => `${r} ${n}`).join(', ');
    this.totals.textContent = `${totals.ingressFrames} in · ${totals.forwardedFrames} forwarded · ${totals.deliveredCopies} delivered · ${totals.droppedFrames} dropped${dropped ? ` (${dropped})` : ''} · capture ${capture?.enabled ? `on, ${capture.packets} records` : 'off'}`;
  }

  private drawTimeline(): void {
    // Append only what is new: the timeline can hold hundreds of entries.
    const stick = this.timelineList.scrollTop + this.timelineList.clientHeight >= this.timelineList.scrollHeight - 4;
    for (; this.timelineDrawn < this.timeline.length; this.timelineDrawn++) {
      const event = this.timeline[this.timelineDrawn]!;
      const li = el('li', `oid status-${event.status}`);
      li.dataset.oid = shortOid(event.oid);
      li.dataset.port = String(event.portId);
      li.dataset.status = event.status;
      const seconds = ((event.time - this.source.startedAt) / 1000).toFixed(3);
      li.append(el('span', 'time', `+${seconds}s`), el('span', 'oid-name', shortOid(event.oid)), el('span', 'where', `port ${event.portId}${event.nicIndex !== undefined ? ` nic ${event.nicIndex}` : ''}`));
      const name = event.vm ? `${event.vm}${event.nic ? `/${event.nic}` : ''}` : this.rows.get(event.portId)?.name;
      if (name) li.append(el('span', 'who', name));
      if (event.status !== 'success') li.append(el('span', 'veto', `${event.status}${event.vetoedBy ? ` by ${event.vetoedBy}` : ''}${event.detail ? `: ${event.detail}` : ''}`));
      this.timelineList.append(li);
    }
    while (this.timelineList.childElementCount > TIMELINE_LIMIT) this.timelineList.firstElementChild!.remove();
    if (stick) this.timelineList.scrollTop = this.timelineList.scrollHeight;
  }

  private drawFrames(): void {
    const log = this.source.frameLog;
    if (log.total === this.lastFrameSeq) return;
    this.lastFrameSeq = log.total;
    const body = el('tbody');
    const portName = (id: number) => (id === 0 ? 'switch' : (this.rows.get(id)?.name ?? `port ${id}`));
    const macNames = new Map<string, string>();
    for (const row of this.rows.values()) if (row.mac) macNames.set(row.mac, row.name);
    const macName = (mac: string) => {
      if (mac === 'ff:ff:ff:ff:ff:ff') return 'broadcast';
      const known = macNames.get(mac);
      if (known) return known;
      return parseInt(mac.slice(0, 2), 16) & 1 ? `multicast ${mac}` : mac;
    };
    for (const frame of log.last(FRAMES_SHOWN).reverse()) {
      const s = log.summary(frame);
      const tr = el('tr');
      tr.dataset.type = s.type;
      const dropped = frame.toPorts.length === 0;
      if (dropped) tr.classList.add('dropped');
      const dst = el('td', 'mac', macName(s.dst));
      if (dropped) dst.append(el('span', 'dropped-mark', ' dropped'));
      tr.append(
        el('td', 'time', `+${((frame.time - this.source.startedAt) / 1000).toFixed(3)}`),
        el('td', 'mac', macName(s.src)),
        dst,
        el('td', `type type-${s.type.toLowerCase().replace(/[^a-z0-9]/g, '')}`, s.type),
        el('td', 'summary', s.summary),
      );
      tr.title = `${s.src} → ${s.dst}, ${frame.length} bytes, from ${portName(frame.fromPort)} to ${dropped ? 'nowhere (dropped)' : frame.toPorts.map(portName).join(', ')}`;
      body.append(tr);
    }
    this.framesBody.replaceWith(body);
    this.framesBody = body;
  }
}
