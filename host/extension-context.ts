// What an extension gets at attach(): read access to the switch's ports and
// NICs, the query OIDs, frame injection and held-frame control (through the
// data path), and references that hold off NIC_DELETE / PORT_DELETE.
import type { Emitter, SwitchEvents } from './events.ts';
import type { OidName } from './oid.ts';
import type { Port } from './port.ts';
import type { Nic } from './nic.ts';
import type { Extension, ExtensionContext, HeldFrame, SwitchParameters } from './extension.ts';
import type { DataPath } from './datapath.ts';
import { SwitchError } from './errors.ts';
import type { Scheduler } from './clock.ts';

/** What an extension context needs from the switch. */
export interface ExtensionContextHost {
  readonly name: string;
  readonly now: () => number;
  readonly timers: Scheduler;
  readonly events: Emitter<SwitchEvents>;
  readonly datapath: DataPath;
  parameters(): SwitchParameters;
  /** The live ports, in creation order. */
  allPorts(): Iterable<Port>;
  findPort(portId: number): Port | undefined;
  findNic(portId: number, nicIndex: number): Nic | undefined;
  connectedNics(): readonly Nic[];
}

export function makeExtensionContext(extension: Extension, host: ExtensionContextHost): ExtensionContext {
  const queried = (oid: OidName): void => {
    // Queries do not run down the stack, but show in the OID stream like the set OIDs.
    host.events.emit('oid', { time: host.now(), oid, portId: 0, status: 'success' });
  };
  const query = ((oid: string): unknown => {
    switch (oid) {
      case 'OID_SWITCH_PARAMETERS':
        queried(oid);
        return host.parameters();
      case 'OID_SWITCH_PORT_ARRAY':
        queried(oid);
        return [...host.allPorts()].map((p) => p.parameters());
      case 'OID_SWITCH_NIC_ARRAY':
        queried(oid);
        return [...host.allPorts()].flatMap((p) => [...p.nics.values()].map((n) => n.parameters()));
      default:
        throw new SwitchError('unknown-query', `unknown query OID ${oid}`);
    }
  }) as ExtensionContext['query'];
  return {
    switchName: host.name,
    now: host.now,
    timers: host.timers,
    query,
    port: (portId) => host.findPort(portId),
    nic: (portId, nicIndex) => host.findNic(portId, nicIndex),
    connectedNics: () => host.connectedNics(),
    inject: (frames, options) => host.datapath.inject(extension, frames, options),
    resume: (held: HeldFrame) => host.datapath.resume(extension, held),
    dropHeld: (held: HeldFrame, reason: string) => host.datapath.dropHeld(extension, held, reason),
    referenceNic(portId, nicIndex) {
      const nic = host.findNic(portId, nicIndex);
      if (!nic || nic.state !== 'connected') {
        throw new SwitchError(nic ? 'nic-state' : 'no-nic', `referenceNic: port ${portId} NIC ${nicIndex} is ${nic ? nic.state : 'absent'}, not connected`);
      }
      nic.extensionReferences++;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        nic.extensionReferences--;
        nic.checkDrained();
      };
    },
    referencePort(portId) {
      const port = host.findPort(portId);
      if (!port || port.state !== 'created') throw new SwitchError(port ? 'port-state' : 'no-port', `referencePort: port ${portId} is ${port ? port.state : 'absent'}`);
      port.reference();
      let released = false;
      return () => {
        if (released) return;
        released = true;
        port.release();
      };
    },
  };
}
