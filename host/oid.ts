// Typed OID requests: the control messages that run down the extension stack
// (capture -> filter -> forwarding) and complete back up, as in the NDIS
// extensible switch. Names are the NDIS ones so the event stream reads like the docs.
import type { PortParameters, PortProperty } from './port.ts';
import type { NicParameters } from './nic.ts';

export const PORT_OIDS = [
  'OID_SWITCH_PORT_CREATE',
  'OID_SWITCH_PORT_UPDATED',
  'OID_SWITCH_PORT_TEARDOWN',
  'OID_SWITCH_PORT_DELETE',
] as const;
export const NIC_OIDS = [
  'OID_SWITCH_NIC_CREATE',
  'OID_SWITCH_NIC_CONNECT',
  'OID_SWITCH_NIC_UPDATED',
  'OID_SWITCH_NIC_DISCONNECT',
  'OID_SWITCH_NIC_DELETE',
] as const;
export const NIC_SAVE_OIDS = [
  'OID_SWITCH_NIC_SAVE',
  'OID_SWITCH_NIC_SAVE_COMPLETE',
  'OID_SWITCH_NIC_RESTORE',
  'OID_SWITCH_NIC_RESTORE_COMPLETE',
] as const;
export const PROPERTY_OIDS = [
  'OID_SWITCH_PORT_PROPERTY_ADD',
  'OID_SWITCH_PORT_PROPERTY_UPDATE',
  'OID_SWITCH_PORT_PROPERTY_DELETE',
] as const;
/** Queries an extension makes of the switch (they do not run down the stack). */
export const QUERY_OIDS = ['OID_SWITCH_PARAMETERS', 'OID_SWITCH_PORT_ARRAY', 'OID_SWITCH_NIC_ARRAY'] as const;

export type PortOid = (typeof PORT_OIDS)[number];
export type NicOid = (typeof NIC_OIDS)[number];
export type NicSaveOid = (typeof NIC_SAVE_OIDS)[number];
export type PropertyOid = (typeof PROPERTY_OIDS)[number];
export type QueryOid = (typeof QUERY_OIDS)[number];
export type OidName = PortOid | NicOid | NicSaveOid | PropertyOid | QueryOid;

/** The OIDs an extension may veto (the design note's table); a restore that fails fails the restore. */
export const VETOABLE_OIDS: ReadonlySet<OidName> = new Set<OidName>([
  'OID_SWITCH_PORT_CREATE',
  'OID_SWITCH_NIC_CREATE',
  'OID_SWITCH_PORT_PROPERTY_ADD',
  'OID_SWITCH_PORT_PROPERTY_UPDATE',
  'OID_SWITCH_NIC_RESTORE',
]);

export type OidStatus = 'success' | 'vetoed' | 'failed';

export type OidRequest =
  | { readonly oid: PortOid; readonly port: PortParameters }
  | { readonly oid: NicOid; readonly port: PortParameters; readonly nic: NicParameters }
  | {
      readonly oid: 'OID_SWITCH_NIC_SAVE';
      readonly port: PortParameters;
      readonly nic: NicParameters;
      /** Each extension stores its own JSON-serialisable state here under its name. */
      readonly saved: Record<string, unknown>;
    }
  | {
      readonly oid: 'OID_SWITCH_NIC_RESTORE';
      readonly port: PortParameters;
      readonly nic: NicParameters;
      /** What NIC_SAVE collected, by extension name. */
      readonly saved: Readonly<Record<string, unknown>>;
    }
  | {
      readonly oid: 'OID_SWITCH_NIC_SAVE_COMPLETE' | 'OID_SWITCH_NIC_RESTORE_COMPLETE';
      readonly port: PortParameters;
      readonly nic: NicParameters;
    }
  | { readonly oid: PropertyOid; readonly port: PortParameters; readonly property: PortProperty };

/** What an extension answers to an OID on its way down: nothing (pass it on) or a veto. */
export type OidReply = void | undefined | { veto: string };

export function isNicOid(oid: OidName): boolean {
  return (NIC_OIDS as readonly string[]).includes(oid) || (NIC_SAVE_OIDS as readonly string[]).includes(oid);
}

/** A set OID that was vetoed or failed: the promise of the switch call rejects with this. */
export class OidError extends Error {
  constructor(
    readonly oid: OidName,
    readonly status: Exclude<OidStatus, 'success'>,
    readonly vetoedBy: string | undefined,
    readonly detail: string | undefined,
  ) {
    super(`${oid} ${status}${vetoedBy ? ` by ${vetoedBy}` : ''}${detail ? `: ${detail}` : ''}`);
    this.name = 'OidError';
  }
}
