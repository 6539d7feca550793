// A link between two lab switches: a patch cord made of one `generic` port on
// each switch (named `link:NAME`, host/lab/file/schema.ts LINK_PORT_TYPE), each
// with one NIC whose sink is the other switch's ingress. A frame crossing the
// link runs through both stacks, with each switch's own port, NIC, OIDs and
// counters. Why `generic` ports and `synthetic` NICs: NDIS has no
// switch-to-switch port type, a switch has at most one external and one
// internal NIC (the external one is kept for the VXLAN uplink), and the NIC
// types have no generic one; synthetic is the plain non-emulated adapter.
//
//   const link = await LabLink.connect('wan', sw1, sw2, { trunk: { allowed: [10, 20] } });
//   await link.close();   // the stop lifecycle on both ports
import type { Frame } from '../../emulator/net/frame.ts';
import type { Switch } from '../switch.ts';
import type { VlanProperty } from '../extensions/vlan.ts';
import { MAX_MTU } from '../validate.ts';
import { LINK_PORT_TYPE } from './file/schema.ts';

export interface LabLinkOptions {
  /** Both ends become trunks with these VLANs; without, the link carries untagged frames only. */
  trunk?: { allowed: number[]; nativeVlanId?: number } | null;
}

export interface LinkEnd {
  readonly switch: Switch;
  readonly portId: number;
}

/** The port name of a link's end on either switch. */
export function linkPortName(link: string): string {
  return `link:${link}`;
}

/**
 * A locally administered MAC per link end (never a frame's source: the switch
 * only needs the NIC to have one). Derived from the name so runs repeat.
 */
export function linkMac(link: string, end: 0 | 1): Uint8Array {
  let hash = 0x811c9dc5;
  for (let i = 0; i < link.length; i++) hash = Math.imul(hash ^ link.charCodeAt(i), 0x01000193) >>> 0;
  return Uint8Array.of(0x06, 0x6c, (hash >>> 24) & 0xff, (hash >>> 16) & 0xff, (hash >>> 8) & 0xff, ((hash & 0xfe) | end) & 0xff);
}

export function trunkProperty(trunk: { allowed: number[]; nativeVlanId?: number }): VlanProperty {
  return { type: 'vlan', mode: 'trunk', allowed: [...trunk.allowed], ...(trunk.nativeVlanId !== undefined ? { nativeVlanId: trunk.nativeVlanId } : {}) };
}

export class LabLink {
  private closed = false;
  private closing: Promise<void> | undefined;

  /** Filled in as the ports are made (port id 0 until then). */
  private readonly endList: LinkEnd[];

  private constructor(
    readonly name: string,
    a: Switch,
    b: Switch,
  ) {
    this.endList = [
      { switch: a, portId: 0 },
      { switch: b, portId: 0 },
    ];
  }

  get ends(): readonly LinkEnd[] {
    return this.endList;
  }

  /** PORT_CREATE (+ the trunk's VLAN property), NIC_CREATE and NIC_CONNECT on each switch; frames flow once both are connected. */
  static async connect(name: string, a: Switch, b: Switch, options: LabLinkOptions = {}): Promise<LabLink> {
    if (a === b) throw new RangeError(`link ${name}: both ends on switch ${a.name}`);
    const properties = options.trunk ? [trunkProperty(options.trunk)] : [];
    const made: LinkEnd[] = [];
    const link = new LabLink(name, a, b);
    try {
      for (const [index, sw] of [a, b].entries()) {
        const port = await sw.createPort({ type: LINK_PORT_TYPE, name: linkPortName(name), ...(properties.length ? { properties } : {}) });
        made.push({ switch: sw, portId: port.id });
        link.endList[index] = made[index]!;
        const other = index === 0 ? b : a;
        await sw.createNic(port.id, {
          index: 0,
          type: 'synthetic',
          mac: linkMac(name, index as 0 | 1),
          // The cord has no MTU of its own: the guests' MTUs decide (a GSO frame crosses whole).
          mtu: MAX_MTU,
          friendlyName: `link ${name} to ${other.name}`,
          sink: link.sinkToward(index === 0 ? 1 : 0),
        });
      }
      for (const end of made) await end.switch.connectNic(end.portId, 0);
    } catch (error) {
      link.closed = true;
      for (const end of made.reverse()) await end.switch.stopPort(end.portId).catch(() => undefined);
      throw error;
    }
    return link;
  }

  /** The end on this switch. */
  endOn(sw: Switch): LinkEnd | undefined {
    return this.ends.find((end) => end.switch === sw);
  }

  /**
   * Frames delivered to one end enter the other switch after the current
   * delivery (a microtask, as a guest's transmit does): the far switch's stack
   * never runs inside the near one's callback.
   */
  private sinkToward(farIndex: 0 | 1): { deliver(frames: readonly Frame[]): void } {
    let queue: Frame[] = [];
    let scheduled = false;
    const flush = (): void => {
      scheduled = false;
      const batch = queue;
      queue = [];
      if (this.closed || !batch.length) return;
      const far = this.endList[farIndex]!;
      far.switch.ingress(far.portId, 0, batch);
    };
    return {
      deliver: (frames) => {
        if (this.closed) return;
        for (const frame of frames) queue.push(frame);
        if (scheduled) return;
        scheduled = true;
        queueMicrotask(flush);
      },
    };
  }

  /** NIC_DISCONNECT ... PORT_DELETE on both ends (idempotent). */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      for (const end of this.ends) {
        if (end.switch.port(end.portId)) await end.switch.stopPort(end.portId).catch(() => undefined);
      }
    })();
    return this.closing;
  }
}
