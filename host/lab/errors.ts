// Why a Lab call was refused: a bad VM name or NIC model, an unknown VM, a VM
// in the wrong state, a closed lab. One class with a `code` so callers (the
// CLI, the web server) can branch without matching message text. Switch
// refusals stay SwitchError (host/errors.ts), vetoes NicAttachError.

export type LabErrorCode =
  /** define(): the name is not lower-case letters, digits and '-', starting with a letter. */
  | 'bad-name'
  /** define(): a NIC model the lab does not know. */
  | 'unknown-model'
  /** No VM with that name. */
  | 'no-vm'
  /** The VM is not in a state this call allows (redefining a running VM, exec on a stopped one). */
  | 'vm-state'
  /** start() after close(). */
  | 'closed'
  /** The launched guest has another number of NICs than the VM defines. */
  | 'nic-count'
  /** attachUplink(): the lab's switch already has its one external port. */
  | 'uplink-exists'
  /** Setting the VM MTU an uplink asks for failed in the guest. */
  | 'guest-mtu'
  /** A lab file names an uplink and the host cannot open one (no openUplink). */
  | 'uplink-unavailable'
  /** addSwitch(): a switch of that name is already in the lab. */
  | 'switch-exists'
  /** A NIC names a switch the lab does not have. */
  | 'no-switch'
  /** A VM's set-up commands (addresses, routes, sysctls) failed in the guest. */
  | 'setup-failed'
  /** No link with that name. */
  | 'no-link';

export class LabError extends Error {
  constructor(
    readonly code: LabErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'LabError';
  }
}
