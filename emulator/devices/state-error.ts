// The one error every device model throws when a saved state cannot be
// restored (wrong model or version, a missing or malformed field): callers
// (the VM restore, the web worker) catch one class whatever the NIC.

/** A saved device state that does not fit the device; nothing of it was applied. */
export class DeviceStateError extends Error {
  /** `device` is the model ('e1000', 'virtio-net'); the message reads "<device> state: <message>". */
  constructor(readonly device: string, message: string) {
    super(`${device} state: ${message}`);
    this.name = 'DeviceStateError';
  }
}
