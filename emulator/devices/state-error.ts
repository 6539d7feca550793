// Saved device state that cannot be restored (wrong version, a field out of
// range): a snapshot file is input like any other, so restore refuses it
// with this error instead of half-applying it.
export class DeviceStateError extends Error {
  constructor(readonly device: string, message: string) {
    super(`${device}: ${message}`);
    this.name = 'DeviceStateError';
  }
}
