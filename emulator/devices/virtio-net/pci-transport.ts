// The virtio 1.x PCI transport (virtio spec 4.1): vendor capabilities that
// point into one BAR holding the common configuration, the notification
// slots, the ISR byte and the device-specific configuration.
//
// Why one I/O BAR: in v86 an MMIO BAR cannot move and 16-bit MMIO accesses
// arrive as two byte accesses, while I/O ports get real 8/16/32-bit accesses.
// Linux's virtio_pci_modern maps common/notify/ISR/device capabilities from
// I/O or memory BARs alike. The handlers still accept any size at any offset
// (a 16-bit field written as two bytes composes correctly, and a notify slot
// acts only on a write that starts at its first byte), so the same layout
// also works behind an MMIO BAR.
import type { AccessSize, IrqLine, PciCapability, RegionHandlers, TraceSink } from '../../platform.ts';
import { DEVICE_NAME } from './core.ts';
import { featureWindow, withFeatureWindow } from './features.ts';
import type { Virtqueue } from './virtqueue.ts';

export const STATUS_ACKNOWLEDGE = 1;
export const STATUS_DRIVER = 2;
export const STATUS_DRIVER_OK = 4;
export const STATUS_FEATURES_OK = 8;
export const STATUS_DEVICE_NEEDS_RESET = 0x40;
export const STATUS_FAILED = 0x80;

export const ISR_QUEUE = 1;
export const ISR_CONFIG = 2;

const CAP_VENDOR = 0x09;
const CFG_COMMON = 1;
const CFG_NOTIFY = 2;
const CFG_ISR = 3;
const CFG_DEVICE = 4;
const NO_VECTOR = 0xffff;

export const BAR_SIZE = 0x80;
export const COMMON_OFFSET = 0x00;
export const COMMON_LENGTH = 0x40;
export const NOTIFY_OFFSET = 0x40;
/** Queue n notifies at NOTIFY_OFFSET + 2n: room for a 16-bit write each. */
export const NOTIFY_MULTIPLIER = 2;
export const NOTIFY_LENGTH = 0x10;
export const ISR_OFFSET = 0x50;
export const ISR_LENGTH = 1;
export const DEVICE_CONFIG_OFFSET = 0x60;
export const DEVICE_CONFIG_LENGTH = 0x20;

/** Offsets in struct virtio_pci_common_cfg. */
export const COMMON = {
  deviceFeatureSelect: 0x00,
  deviceFeature: 0x04,
  driverFeatureSelect: 0x08,
  driverFeature: 0x0c,
  msixConfig: 0x10,
  numQueues: 0x12,
  deviceStatus: 0x14,
  configGeneration: 0x15,
  queueSelect: 0x16,
  queueSize: 0x18,
  queueMsixVector: 0x1a,
  queueEnable: 0x1c,
  queueNotifyOff: 0x1e,
  queueDescLo: 0x20,
  queueDescHi: 0x24,
  queueDriverLo: 0x28,
  queueDriverHi: 0x2c,
  queueDeviceLo: 0x30,
  queueDeviceHi: 0x34,
  queueNotifyData: 0x38,
  queueReset: 0x3a,
} as const;

/** A virtio_pci_cap body (everything after the id and next bytes). */
function virtioCap(cfgType: number, bar: number, offset: number, length: number, extra?: number): PciCapability {
  const body = new Uint8Array(extra === undefined ? 14 : 18);
  const view = new DataView(body.buffer);
  body[0] = body.length + 2; // cap_len counts the id and next bytes too
  body[1] = cfgType;
  body[2] = bar;
  view.setUint32(6, offset, true);
  view.setUint32(10, length, true);
  if (extra !== undefined) view.setUint32(14, extra, true);
  return { id: CAP_VENDOR, body };
}

export function transportCapabilities(bar: number): PciCapability[] {
  return [
    virtioCap(CFG_COMMON, bar, COMMON_OFFSET, COMMON_LENGTH),
    virtioCap(CFG_NOTIFY, bar, NOTIFY_OFFSET, NOTIFY_LENGTH, NOTIFY_MULTIPLIER),
    virtioCap(CFG_ISR, bar, ISR_OFFSET, ISR_LENGTH),
    virtioCap(CFG_DEVICE, bar, DEVICE_CONFIG_OFFSET, DEVICE_CONFIG_LENGTH),
  ];
}

/** What the transport asks of the device behind it. */
export interface TransportDevice {
  readonly offeredFeatures: bigint;
  readonly queues: readonly Virtqueue[];
  /** Status 0 written: the device forgets everything the driver set up. */
  reset(): void;
  /** FEATURES_OK written: returns why the features are refused, or undefined to accept. */
  acceptFeatures(features: bigint): string | undefined;
  /** DRIVER_OK written (after accepted features). */
  driverOk(): void;
  /** FAILED written by the driver. */
  driverFailed(): void;
  queueEnabled(queue: Virtqueue): void;
  notify(queue: Virtqueue): void;
  readConfig(offset: number): number;
  writeConfig(offset: number, value: number): void;
}

export interface TransportState {
  status: number;
  deviceFeatureSelect: number;
  driverFeatureSelect: number;
  driverFeatures: string;
  queueSelect: number;
  configGeneration: number;
  isr: number;
}

type CommonField = keyof typeof COMMON;

interface FieldSpec {
  /** The struct virtio_pci_common_cfg member: its offset, and its name in trace events. */
  name: CommonField;
  size: number;
  get(): number;
  set?(value: number): void;
}

interface Field extends FieldSpec {
  offset: number;
}

export class VirtioPciTransport implements RegionHandlers {
  status = 0;
  driverFeatures = 0n;
  configGeneration = 0;
  isr = 0;
  private deviceFeatureSelect = 0;
  private driverFeatureSelect = 0;
  private queueSelect = 0;
  private readonly fields: Field[];

  constructor(
    private readonly device: TransportDevice,
    private readonly irq: IrqLine,
    /** Platform.trace: register access and interrupt edges. */
    private readonly trace?: TraceSink,
  ) {
    const q = (): Virtqueue | undefined => device.queues[this.queueSelect];
    const queueWritable = (): Virtqueue | undefined => {
      const queue = q();
      return queue && !queue.enabled ? queue : undefined;
    };
    // 64-bit queue addresses are written as two 32-bit halves.
    const low = (value: number) => value >>> 0;
    const withLow = (addr: number, value: number) => Math.floor(addr / 2 ** 32) * 2 ** 32 + (value >>> 0);
    const withHigh = (addr: number, value: number) => (value >>> 0) * 2 ** 32 + (addr % 2 ** 32);
    const specs: FieldSpec[] = [
      { name: 'deviceFeatureSelect', size: 4, get: () => this.deviceFeatureSelect, set: (v) => (this.deviceFeatureSelect = v >>> 0) },
      { name: 'deviceFeature', size: 4, get: () => featureWindow(device.offeredFeatures, this.deviceFeatureSelect) },
      { name: 'driverFeatureSelect', size: 4, get: () => this.driverFeatureSelect, set: (v) => (this.driverFeatureSelect = v >>> 0) },
      {
        name: 'driverFeature',
        size: 4,
        get: () => featureWindow(this.driverFeatures, this.driverFeatureSelect),
        set: (v) => {
          // Features are frozen once accepted.
          if (!(this.status & STATUS_FEATURES_OK)) this.driverFeatures = withFeatureWindow(this.driverFeatures, this.driverFeatureSelect, v);
        },
      },
      // No MSI-X: every vector reads back as NO_VECTOR, which tells the driver to use INTx.
      { name: 'msixConfig', size: 2, get: () => NO_VECTOR, set: () => {} },
      { name: 'numQueues', size: 2, get: () => device.queues.length },
      { name: 'deviceStatus', size: 1, get: () => this.status, set: (v) => this.writeStatus(v & 0xff) },
      { name: 'configGeneration', size: 1, get: () => this.configGeneration & 0xff },
      { name: 'queueSelect', size: 2, get: () => this.queueSelect, set: (v) => (this.queueSelect = v & 0xffff) },
      {
        name: 'queueSize',
        size: 2,
        get: () => q()?.size ?? 0,
        // Checked when the queue is enabled: a 16-bit write may arrive a byte at a time.
        set: (v) => {
          const queue = queueWritable();
          if (queue) queue.size = v & 0xffff;
        },
      },
      { name: 'queueMsixVector', size: 2, get: () => NO_VECTOR, set: () => {} },
      {
        name: 'queueEnable',
        size: 2,
        get: () => (q()?.enabled ? 1 : 0),
        set: (v) => {
          const queue = queueWritable();
          if (queue && (v & 1)) device.queueEnabled(queue);
        },
      },
      { name: 'queueNotifyOff', size: 2, get: () => (q() ? this.queueSelect : 0) },
      ...this.addressFields('queueDescLo', 'queueDescHi', q, queueWritable, 'desc', low, withLow, withHigh),
      ...this.addressFields('queueDriverLo', 'queueDriverHi', q, queueWritable, 'avail', low, withLow, withHigh),
      ...this.addressFields('queueDeviceLo', 'queueDeviceHi', q, queueWritable, 'used', low, withLow, withHigh),
      { name: 'queueNotifyData', size: 2, get: () => 0 },
      { name: 'queueReset', size: 2, get: () => 0, set: () => {} },
    ];
    this.fields = specs.map((spec) => ({ ...spec, offset: COMMON[spec.name] }));
  }

  private addressFields(
    lowName: CommonField,
    highName: CommonField,
    q: () => Virtqueue | undefined,
    writable: () => Virtqueue | undefined,
    key: 'desc' | 'avail' | 'used',
    low: (v: number) => number,
    withLow: (addr: number, v: number) => number,
    withHigh: (addr: number, v: number) => number,
  ): FieldSpec[] {
    return [
      {
        name: lowName,
        size: 4,
        get: () => low(q()?.[key] ?? 0),
        set: (v) => {
          const queue = writable();
          if (queue) queue[key] = withLow(queue[key], v);
        },
      },
      {
        name: highName,
        size: 4,
        get: () => Math.floor((q()?.[key] ?? 0) / 2 ** 32) >>> 0,
        set: (v) => {
          const queue = writable();
          if (queue) queue[key] = withHigh(queue[key], v);
        },
      },
    ];
  }

  // --- BAR access -------------------------------------------------------

  read(offset: number, size: AccessSize): number {
    let value = 0;
    if (offset >= ISR_OFFSET && offset < ISR_OFFSET + ISR_LENGTH) value = this.readIsr();
    else for (let i = 0; i < size; i++) value |= this.readByte(offset + i) << (8 * i);
    value >>>= 0;
    if (this.trace) this.trace(DEVICE_NAME, 'cfg.read', { field: this.fieldName(offset), offset, size, value });
    return value;
  }

  write(offset: number, size: AccessSize, value: number): void {
    // A notification is traced by the device (queue.notify), everything else here, before its side effects.
    if (this.trace && !(offset >= NOTIFY_OFFSET && offset < NOTIFY_OFFSET + NOTIFY_LENGTH)) {
      this.trace(DEVICE_NAME, 'cfg.write', { field: this.fieldName(offset), offset, size, value: value >>> 0 });
    }
    if (offset >= NOTIFY_OFFSET && offset < NOTIFY_OFFSET + NOTIFY_LENGTH) {
      const rel = offset - NOTIFY_OFFSET;
      // Only a write starting a slot notifies: the second byte of a split 16-bit write must not notify twice.
      if (rel % NOTIFY_MULTIPLIER === 0) {
        const queue = this.device.queues[rel / NOTIFY_MULTIPLIER];
        if (queue) this.device.notify(queue);
      }
      return;
    }
    if (offset >= COMMON_OFFSET && offset < COMMON_OFFSET + COMMON_LENGTH) {
      const field = this.fields.find((f) => f.offset === offset && f.size === size);
      if (field) {
        field.set?.(value >>> 0);
        return;
      }
    }
    for (let i = 0; i < size; i++) this.writeByte(offset + i, (value >>> (8 * i)) & 0xff);
  }

  /** What a BAR offset addresses, for trace events. */
  private fieldName(offset: number): string {
    if (offset >= COMMON_OFFSET && offset < COMMON_OFFSET + COMMON_LENGTH) return this.fieldAt(offset)?.name ?? 'common';
    if (offset >= NOTIFY_OFFSET && offset < NOTIFY_OFFSET + NOTIFY_LENGTH) return 'notify';
    if (offset >= ISR_OFFSET && offset < ISR_OFFSET + ISR_LENGTH) return 'isr';
    if (offset >= DEVICE_CONFIG_OFFSET && offset < DEVICE_CONFIG_OFFSET + DEVICE_CONFIG_LENGTH) return `config+${offset - DEVICE_CONFIG_OFFSET}`;
    return 'unmapped';
  }

  private fieldAt(offset: number): Field | undefined {
    const rel = offset - COMMON_OFFSET;
    return this.fields.find((f) => rel >= f.offset && rel < f.offset + f.size);
  }

  private readByte(offset: number): number {
    if (offset >= COMMON_OFFSET && offset < COMMON_OFFSET + COMMON_LENGTH) {
      const field = this.fieldAt(offset);
      return field ? (field.get() >>> (8 * (offset - COMMON_OFFSET - field.offset))) & 0xff : 0;
    }
    if (offset >= DEVICE_CONFIG_OFFSET && offset < DEVICE_CONFIG_OFFSET + DEVICE_CONFIG_LENGTH) {
      return this.device.readConfig(offset - DEVICE_CONFIG_OFFSET) & 0xff;
    }
    return 0;
  }

  private writeByte(offset: number, byte: number): void {
    if (offset >= COMMON_OFFSET && offset < COMMON_OFFSET + COMMON_LENGTH) {
      const field = this.fieldAt(offset);
      if (!field?.set) return;
      const shift = 8 * (offset - COMMON_OFFSET - field.offset);
      const mask = field.size === 4 ? 0xffffffff : (1 << (8 * field.size)) - 1;
      const current = field.get() & mask;
      field.set(((current & ~(0xff << shift)) | (byte << shift)) >>> 0);
      return;
    }
    if (offset >= DEVICE_CONFIG_OFFSET && offset < DEVICE_CONFIG_OFFSET + DEVICE_CONFIG_LENGTH) {
      this.device.writeConfig(offset - DEVICE_CONFIG_OFFSET, byte);
    }
  }

  // --- status and interrupts ---------------------------------------------

  private writeStatus(value: number): void {
    if (value === 0) {
      this.resetTransport();
      this.device.reset();
      return;
    }
    const before = this.status;
    // NEEDS_RESET belongs to the device; the driver cannot set or clear it.
    let next = (value & ~STATUS_DEVICE_NEEDS_RESET) | (before & STATUS_DEVICE_NEEDS_RESET);
    if (next & STATUS_FEATURES_OK && !(before & STATUS_FEATURES_OK)) {
      // Refusing leaves FEATURES_OK clear, which the driver reads back (virtio 3.1.1).
      if (this.device.acceptFeatures(this.driverFeatures) !== undefined) next &= ~STATUS_FEATURES_OK;
    }
    if (!(next & STATUS_FEATURES_OK)) next &= ~STATUS_DRIVER_OK;
    this.status = next;
    if (next & STATUS_FAILED && !(before & STATUS_FAILED)) this.device.driverFailed();
    else if (next & STATUS_DRIVER_OK && !(before & STATUS_DRIVER_OK)) this.device.driverOk();
  }

  private resetTransport(): void {
    this.status = 0;
    this.driverFeatures = 0n;
    this.deviceFeatureSelect = this.driverFeatureSelect = this.queueSelect = 0;
    this.setIsr(0);
  }

  /** The device hit a guest error it cannot continue from (virtio 2.1.2). */
  setNeedsReset(): void {
    if (this.status & STATUS_DEVICE_NEEDS_RESET) return;
    this.status |= STATUS_DEVICE_NEEDS_RESET;
    if (this.status & STATUS_DRIVER_OK) this.configChanged();
  }

  /** The device configuration changed: new generation, config interrupt. */
  configChanged(): void {
    this.configGeneration = (this.configGeneration + 1) & 0xff;
    if (this.status & STATUS_DRIVER_OK) this.setIsr(this.isr | ISR_CONFIG);
  }

  queueInterrupt(): void {
    this.setIsr(this.isr | ISR_QUEUE);
  }

  private readIsr(): number {
    // Reading the ISR acknowledges the interrupt and lowers INTx (virtio 4.1.4.5).
    const value = this.isr;
    this.setIsr(0);
    return value;
  }

  private setIsr(value: number): void {
    this.isr = value;
    const level = value !== 0;
    if (this.irq.level === level) return;
    this.irq.set(level);
    if (this.trace) this.trace(DEVICE_NAME, level ? 'irq.raise' : 'irq.lower', { isr: value });
  }

  /** Re-drives the interrupt line from the ISR (after a restore). */
  syncIrq(): void {
    this.setIsr(this.isr);
  }

  saveState(): TransportState {
    return {
      status: this.status,
      deviceFeatureSelect: this.deviceFeatureSelect,
      driverFeatureSelect: this.driverFeatureSelect,
      driverFeatures: this.driverFeatures.toString(16),
      queueSelect: this.queueSelect,
      configGeneration: this.configGeneration,
      isr: this.isr,
    };
  }

  restoreState(state: TransportState): void {
    this.status = state.status & 0xff;
    this.deviceFeatureSelect = state.deviceFeatureSelect >>> 0;
    this.driverFeatureSelect = state.driverFeatureSelect >>> 0;
    this.driverFeatures = BigInt(`0x${state.driverFeatures || '0'}`);
    this.queueSelect = state.queueSelect & 0xffff;
    this.configGeneration = state.configGeneration & 0xff;
    this.isr = state.isr & 3;
    this.syncIrq();
  }
}
