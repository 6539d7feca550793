// The lab's record of every switch port a lab VM had, live or deleted: which
// VM and NIC it is, its last port and NIC states (from the switch's state
// events), and its counters frozen at PORT_TEARDOWN so ports() still shows
// them after PORT_DELETE.
import type { NicModel } from '../../emulator/net/nic.ts';
import { formatMac } from '../../emulator/net/frame.ts';
import type { SwitchPortAttachment } from '../attach.ts';
import type { StateEvent } from '../events.ts';
import type { PortCounters } from '../counters.ts';
import type { Switch } from '../switch.ts';

/** One switch port of a lab VM, live or deleted. */
export interface LabPortRow {
  portId: number;
  /** The port's switch, when the lab has more than one (port ids are per switch). */
  switch?: string;
  vm: string;
  /** 'eth0', ... */
  nic: string;
  model: NicModel;
  mac: string;
  /** The switch port's state ('created', 'teardown', 'deleted') and its NIC's. */
  portState: string;
  nicState: string;
  counters: PortCounters;
  /** Frames the guest could not be given (offloads it cannot take and that could not be resolved), by reason. */
  deliveryDrops: Record<string, number>;
  /** Set when the NIC failed (its model threw): the error; the port then ran the stop lifecycle. */
  fault?: string;
}

export interface PortRecord {
  portId: number;
  vm: string;
  /** The NIC's place in the VM (eth<index>). */
  index: number;
  model: NicModel;
  mac: string;
  portState: string;
  nicState: string;
  finalCounters?: PortCounters;
  finalDeliveryDrops?: Record<string, number>;
  /** Only while the port lives: the attachment reaches the guest NIC and its whole emulator (guest RAM). */
  attachment?: SwitchPortAttachment;
  /** The NIC's fault, when it failed. */
  fault?: string;
}

export class LabPortRecords {
  private readonly records = new Map<number, PortRecord>();

  constructor(private readonly sw: Switch) {}

  get(portId: number): PortRecord | undefined {
    return this.records.get(portId);
  }

  /** A lab VM's PORT_CREATE succeeded: the port is the VM's NIC `index` from now on. */
  open(portId: number, owner: { vm: string; index: number; model: NicModel; mac: string }): PortRecord {
    const record: PortRecord = { portId, ...owner, portState: 'created', nicState: 'none' };
    this.records.set(portId, record);
    return record;
  }

  /** Follows the switch's state events for recorded ports. */
  onState(event: StateEvent): void {
    const record = this.records.get(event.portId);
    if (!record) return;
    if (event.object === 'nic') {
      record.nicState = event.to;
      return;
    }
    record.portState = event.to;
    // PORT_TEARDOWN: the port's NICs are gone, its counters are final; keep them for rows() after PORT_DELETE.
    if (event.to === 'teardown' || event.to === 'deleted') {
      const counters = this.sw.counters(event.portId) as PortCounters | undefined;
      if (counters && this.sw.port(event.portId)) record.finalCounters = { ...counters, drops: { ...counters.drops } };
    }
    // Records outlive their VMs (rows() shows deleted ports): holding the attachment would keep every
    // stopped VM's emulator alive, ~one VM of RSS per stop/start (found by the soak bench).
    if (event.to === 'deleted' && record.attachment) {
      record.finalDeliveryDrops = { ...record.attachment.deliveryDrops };
      record.attachment = undefined;
    }
  }

  /** Per-port counters of every recorded port, in port id order. */
  rows(): LabPortRow[] {
    const rows: LabPortRow[] = [];
    for (const record of [...this.records.values()].sort((a, b) => a.portId - b.portId)) {
      const live = this.sw.port(record.portId) !== undefined;
      const counters = live ? (this.sw.counters(record.portId) as PortCounters) : record.finalCounters;
      if (!counters) continue;
      const nic = this.sw.nic(record.portId, 0);
      rows.push({
        portId: record.portId,
        vm: record.vm,
        nic: `eth${record.index}`,
        model: record.model,
        mac: nic ? formatMac(nic.mac) : record.mac,
        portState: record.portState,
        nicState: record.nicState,
        counters: { ...counters, drops: { ...counters.drops } },
        deliveryDrops: { ...(record.attachment?.deliveryDrops ?? record.finalDeliveryDrops ?? {}) },
        ...(record.fault !== undefined ? { fault: record.fault } : {}),
      });
    }
    return rows;
  }

  /** 'vm/ethN (port P)' for a recorded port, else 'port P'. */
  describe(portId: number): string {
    const record = this.records.get(portId);
    return record ? `${record.vm}/eth${record.index} (port ${portId})` : `port ${portId}`;
  }
}
