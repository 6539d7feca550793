// A tiny virtio driver for unit tests: sets the device up register by
// register the way Linux's virtio_pci_modern + virtio_net do, and keeps
// split rings in FakeMemory, so tests read like driver code.
import { FakePlatform, type FakePciFunction } from '../../testing.ts';
import type { NicDriverEvent } from '../../net/nic.ts';
import { featureSet, OFFERED_FEATURES } from './features.ts';
import { VirtioNet } from './net-device.ts';
import { COMMON, DEVICE_CONFIG_OFFSET, ISR_OFFSET, NOTIFY_MULTIPLIER, NOTIFY_OFFSET, STATUS_ACKNOWLEDGE, STATUS_DRIVER, STATUS_DRIVER_OK, STATUS_FEATURES_OK } from './pci-transport.ts';

export const DESC_F_NEXT = 1;
export const DESC_F_WRITE = 2;
export const DESC_F_INDIRECT = 4;

export interface Buffer {
  addr: number;
  length: number;
  write?: boolean;
}

/** A bump allocator over the fake RAM. */
export class Arena {
  constructor(private next: number) {}
  alloc(length: number, align = 16): number {
    this.next = Math.ceil(this.next / align) * align;
    const at = this.next;
    this.next += length;
    return at;
  }
}

export class DriverQueue {
  readonly desc: number;
  readonly avail: number;
  readonly used: number;
  private freeDescs: number[];
  availIdx = 0;
  lastUsed = 0;

  constructor(public driver: TestDriver, readonly index: number, readonly size: number, arena: Arena) {
    this.desc = arena.alloc(16 * size, 16);
    this.avail = arena.alloc(6 + 2 * size, 2);
    this.used = arena.alloc(6 + 8 * size, 4);
    this.freeDescs = Array.from({ length: size }, (_, i) => i);
  }

  get mem() {
    return this.driver.platform.memory;
  }

  writeDesc(i: number, addr: number, length: number, flags: number, next: number, table = this.desc): void {
    const at = table + 16 * i;
    this.mem.writeU32(at, addr);
    this.mem.writeU32(at + 4, 0);
    this.mem.writeU32(at + 8, length);
    this.mem.writeU16(at + 12, flags);
    this.mem.writeU16(at + 14, next);
  }

  /** Chains `buffers` into free descriptors and makes the chain available; returns the head. */
  add(buffers: Buffer[]): number {
    if (buffers.length > this.freeDescs.length) throw new Error('test driver: ring full');
    const ids = this.freeDescs.splice(0, buffers.length);
    buffers.forEach((b, i) => {
      const last = i === buffers.length - 1;
      this.writeDesc(ids[i]!, b.addr, b.length, (b.write ? DESC_F_WRITE : 0) | (last ? 0 : DESC_F_NEXT), last ? 0 : ids[i + 1]!);
    });
    this.publishHead(ids[0]!);
    return ids[0]!;
  }

  /** Puts a raw head index in the avail ring (for hostile tests). */
  publishHead(head: number): void {
    this.mem.writeU16(this.avail + 4 + 2 * (this.availIdx % this.size), head);
    this.availIdx = (this.availIdx + 1) & 0xffff;
    this.mem.writeU16(this.avail + 2, this.availIdx);
  }

  /** A chain through one indirect table of `buffers`. */
  addIndirect(buffers: Buffer[], arena: Arena): number {
    const table = arena.alloc(16 * buffers.length, 16);
    buffers.forEach((b, i) => {
      const last = i === buffers.length - 1;
      this.writeDesc(i, b.addr, b.length, (b.write ? DESC_F_WRITE : 0) | (last ? 0 : DESC_F_NEXT), last ? 0 : i + 1, table);
    });
    const id = this.freeDescs.shift()!;
    this.writeDesc(id, table, 16 * buffers.length, DESC_F_INDIRECT, 0);
    this.publishHead(id);
    return id;
  }

  set noInterrupt(on: boolean) {
    this.mem.writeU16(this.avail, on ? 1 : 0);
  }

  kick(): void {
    this.driver.fn.write(0, NOTIFY_OFFSET + NOTIFY_MULTIPLIER * this.index, this.index, 2);
  }

  /** New used entries since the last call (descriptors are not recycled: tests stay small). */
  takeUsed(): { id: number; len: number }[] {
    const idx = this.mem.readU16(this.used + 2);
    const out: { id: number; len: number }[] = [];
    while (this.lastUsed !== idx) {
      const at = this.used + 4 + 8 * (this.lastUsed % this.size);
      out.push({ id: this.mem.readU32(at), len: this.mem.readU32(at + 4) });
      this.lastUsed = (this.lastUsed + 1) & 0xffff;
    }
    return out;
  }
}

export interface DriverOptions {
  features?: bigint;
  queueSize?: number;
  mac?: Uint8Array;
  platform?: FakePlatform;
  /** Passed to the device (VirtioNetConfig.txInterruptHoldMs). */
  txInterruptHoldMs?: number;
}

export class TestDriver {
  readonly platform: FakePlatform;
  readonly nic: VirtioNet;
  readonly fn: FakePciFunction;
  arena = new Arena(0x10000);
  readonly events: NicDriverEvent[] = [];
  queues: DriverQueue[] = [];

  constructor(options: DriverOptions = {}) {
    this.platform = options.platform ?? new FakePlatform(16 * 1024 * 1024);
    this.nic = new VirtioNet(this.platform, {
      mac: options.mac ?? Uint8Array.of(0x52, 0x54, 0, 0x12, 0x34, 0x56),
      ...(options.txInterruptHoldMs !== undefined ? { txInterruptHoldMs: options.txInterruptHoldMs } : {}),
    });
    this.fn = this.platform.functions[this.platform.functions.length - 1]!;
    this.nic.onDriverEvent((e) => this.events.push(e));
  }

  readCommon(offset: number, size: 1 | 2 | 4): number {
    return this.fn.read(0, offset, size);
  }

  writeCommon(offset: number, value: number, size: 1 | 2 | 4): void {
    this.fn.write(0, offset, value, size);
  }

  get status(): number {
    return this.readCommon(COMMON.deviceStatus, 1);
  }

  deviceFeatures(): bigint {
    this.writeCommon(COMMON.deviceFeatureSelect, 0, 4);
    const low = this.readCommon(COMMON.deviceFeature, 4);
    this.writeCommon(COMMON.deviceFeatureSelect, 1, 4);
    const high = this.readCommon(COMMON.deviceFeature, 4);
    return (BigInt(high) << 32n) | BigInt(low);
  }

  /** Reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK; returns whether the device kept FEATURES_OK. */
  negotiate(features: bigint = OFFERED_FEATURES): boolean {
    this.writeCommon(COMMON.deviceStatus, 0, 1);
    this.writeCommon(COMMON.deviceStatus, STATUS_ACKNOWLEDGE, 1);
    this.writeCommon(COMMON.deviceStatus, STATUS_ACKNOWLEDGE | STATUS_DRIVER, 1);
    this.deviceFeatures();
    this.writeCommon(COMMON.driverFeatureSelect, 0, 4);
    this.writeCommon(COMMON.driverFeature, Number(features & 0xffffffffn), 4);
    this.writeCommon(COMMON.driverFeatureSelect, 1, 4);
    this.writeCommon(COMMON.driverFeature, Number(features >> 32n), 4);
    this.writeCommon(COMMON.deviceStatus, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK, 1);
    return (this.status & STATUS_FEATURES_OK) !== 0;
  }

  setupQueue(index: number, size?: number): DriverQueue {
    this.writeCommon(COMMON.queueSelect, index, 2);
    const max = this.readCommon(COMMON.queueSize, 2);
    const n = size ?? max;
    this.writeCommon(COMMON.queueSize, n, 2);
    const q = new DriverQueue(this, index, n, this.arena);
    this.writeCommon(COMMON.queueDescLo, q.desc, 4);
    this.writeCommon(COMMON.queueDescHi, 0, 4);
    this.writeCommon(COMMON.queueDriverLo, q.avail, 4);
    this.writeCommon(COMMON.queueDriverHi, 0, 4);
    this.writeCommon(COMMON.queueDeviceLo, q.used, 4);
    this.writeCommon(COMMON.queueDeviceHi, 0, 4);
    this.writeCommon(COMMON.queueEnable, 1, 2);
    this.queues[index] = q;
    return q;
  }

  /** The whole probe: negotiate, three queues, DRIVER_OK. */
  start(options: { features?: bigint; queueSize?: number } = {}): this {
    if (!this.negotiate(options.features ?? OFFERED_FEATURES)) throw new Error('test driver: features refused');
    for (let i = 0; i < 3; i++) this.setupQueue(i, i === 2 ? undefined : options.queueSize);
    this.writeCommon(COMMON.deviceStatus, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK, 1);
    return this;
  }

  /** Takes over another driver's rings and allocator (a guest restored from a snapshot of it). */
  adopt(from: TestDriver): void {
    this.queues = from.queues;
    for (const q of this.queues) q.driver = this;
    this.arena = from.arena;
  }

  get rx(): DriverQueue {
    return this.queues[0]!;
  }
  get tx(): DriverQueue {
    return this.queues[1]!;
  }
  get ctrl(): DriverQueue {
    return this.queues[2]!;
  }

  readIsr(): number {
    return this.fn.read(0, ISR_OFFSET, 1);
  }

  readConfig(offset: number, size: 1 | 2 | 4): number {
    return this.fn.read(0, DEVICE_CONFIG_OFFSET + offset, size);
  }

  /** Copies bytes into fresh guest memory. */
  put(bytes: Uint8Array): number {
    const at = this.arena.alloc(bytes.length, 16);
    this.platform.memory.write(at, bytes);
    return at;
  }

  /** Sends a control command and returns the ack byte. */
  control(cls: number, cmd: number, data: Uint8Array): number {
    const request = this.put(Uint8Array.of(cls, cmd, ...data));
    const ack = this.arena.alloc(1, 1);
    this.platform.memory.write(ack, Uint8Array.of(0xee));
    this.ctrl.add([
      { addr: request, length: 2 + data.length },
      { addr: ack, length: 1, write: true },
    ]);
    this.ctrl.kick();
    return this.platform.memory.bytes[ack]!;
  }
}

export const NO_OFFLOAD_FEATURES = featureSet(32);
