// Helpers for tests of lab VMs on the switch: an observer extension that
// records, in one ordered log, the OIDs going down the stack and every frame
// copy the switch is about to deliver; small packet helpers; scripted lab
// guests (no emulator) for runner tests.
import type { EgressBatch, Extension } from '../extension.ts';
import type { OidReply, OidRequest } from '../oid.ts';
import { parseMac } from '../../emulator/net/frame.ts';
import { ScriptedNic, mac } from '../testing.ts';
import type { GuestExecResult, GuestLaunch, LabGuest, LaunchGuest } from './guest.ts';

export type ObservedEntry =
  | { kind: 'oid'; seq: number; oid: string; portId: number; nicIndex?: number }
  | { kind: 'deliver'; seq: number; fromPortId: number; toPortId: number; icmpType?: number; dstMac: string };

/**
 * A capture extension (it changes nothing): put it at the top of the stack to
 * see what the switch delivers (egress copies that are not excluded) in order
 * with the OIDs. Delivery is recorded when the copy leaves the stack.
 */
export class Observer implements Extension {
  readonly kind = 'capture' as const;
  readonly log: ObservedEntry[] = [];
  private seq = 0;

  constructor(readonly name = 'observer') {}

  oidRequest(request: OidRequest): OidReply {
    const nic = 'nic' in request && request.nic ? request.nic : undefined;
    const portId = 'port' in request && request.port ? request.port.id : (nic?.portId ?? 0);
    this.log.push({ kind: 'oid', seq: this.seq++, oid: request.oid, portId, ...(nic ? { nicIndex: nic.index } : {}) });
    return undefined;
  }

  egress(batch: EgressBatch): void {
    for (let i = 0; i < batch.count; i++) {
      if (batch.isDropped(i)) continue;
      const data = batch.frame(i).data;
      const icmp = icmpType(data);
      for (let d = batch.firstDestination(i); d >= 0; d = batch.nextDestination(d)) {
        if (batch.excluded(d) !== null) continue;
        this.log.push({
          kind: 'deliver',
          seq: this.seq++,
          fromPortId: batch.sourcePortId(i),
          toPortId: batch.destination(d).portId,
          dstMac: macText(data, 0),
          ...(icmp !== undefined ? { icmpType: icmp } : {}),
        });
      }
    }
  }

  clear(): void {
    this.log.length = 0;
  }
}

export function macText(data: Uint8Array, offset: number): string {
  return Array.from(data.subarray(offset, offset + 6), (b) => b.toString(16).padStart(2, '0')).join(':');
}

/** The ICMP type of an untagged IPv4 ICMP frame (8 echo request, 0 echo reply), else undefined. */
export function icmpType(data: Uint8Array): number | undefined {
  if (data.length < 34 || data[12] !== 0x08 || data[13] !== 0x00 || data[23] !== 1) return undefined;
  const ihl = (data[14]! & 0x0f) * 4;
  return data[14 + ihl];
}

/** A lab guest with no emulator: ScriptedNics (driver ready), every command recorded and answered with `answer` (default: exit 0). */
export class ScriptedLabGuest implements LabGuest {
  readonly nics: ScriptedNic[];
  readonly commands: string[] = [];
  isStopped = false;
  readonly console = { onData: () => () => undefined };
  constructor(
    readonly launch: GuestLaunch,
    index: number,
    private readonly answer: (command: string) => GuestExecResult = () => ({ output: '', exitCode: 0 }),
  ) {
    this.nics = launch.nics.map((n, i) => new ScriptedNic(n.model, n.mac ? parseMac(n.mac) : mac(index * 16 + i + 1), true));
  }
  async exec(command: string): Promise<GuestExecResult> {
    if (this.isStopped) throw new Error('stopped');
    this.commands.push(command);
    return this.answer(command);
  }
  async stop(): Promise<void> {
    this.isStopped = true;
    for (const nic of this.nics) nic.destroy();
  }
}

/** A LaunchGuest of ScriptedLabGuests, by VM name in `guests`. */
export function scriptedLaunch(answer?: (vm: string, command: string) => GuestExecResult): { launch: LaunchGuest; guests: Map<string, ScriptedLabGuest> } {
  const guests = new Map<string, ScriptedLabGuest>();
  let count = 0;
  const launch: LaunchGuest = async (request) => {
    const guest = new ScriptedLabGuest(request, ++count, answer ? (command) => answer(request.name, command) : undefined);
    guests.set(request.name, guest);
    return guest;
  };
  return { launch, guests };
}
