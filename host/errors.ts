// Why a switch call was refused before (or instead of) running an OID: an
// unknown port or NIC, a call in the wrong state, a duplicate. One class with a
// `code` so callers can branch without matching message text. Vetoed or failed
// OIDs are OidError (oid.ts); bad arguments stay TypeError / RangeError.

export type SwitchErrorCode =
  /** No port with that id. */
  | 'no-port'
  /** The port has no NIC with that index. */
  | 'no-nic'
  /** createPort with an id that is taken (or being created). */
  | 'port-exists'
  /** createNic with an index the port already has. */
  | 'nic-exists'
  /** A second external or internal NIC: the switch has at most one of each. */
  | 'nic-type-exists'
  /** The port is not in a state this call allows (including referencePort, and a release of a reference it does not hold). */
  | 'port-state'
  /** The NIC is not in a state this call allows (including referenceNic). */
  | 'nic-state'
  /** PORT_TEARDOWN while the port still has NICs. */
  | 'port-has-nics'
  /** PORT_PROPERTY_ADD of a property the port has. */
  | 'property-exists'
  /** PORT_PROPERTY_UPDATE or _DELETE of a property the port does not have. */
  | 'no-property'
  /** An extension queried an OID the switch does not answer. */
  | 'unknown-query'
  /** addExtension: the extension's attach() threw (the error is the cause). */
  | 'extension-attach';

export class SwitchError extends Error {
  constructor(
    readonly code: SwitchErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SwitchError';
  }
}

/** The message of anything thrown (extensions may throw non-Errors). */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
