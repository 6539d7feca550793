// The JSON-serialisable state saved beside the v86 state in a VM snapshot,
// and its validation on restore (a snapshot file is input like any other).
import { formatMac, parseMac } from '../../net/frame.ts';
import { DeviceStateError } from '../state-error.ts';
import type { RxFilterState } from './control.ts';
import { DEVICE_NAME } from './core.ts';
import type { TransportState } from './pci-transport.ts';
import type { VirtqueueState } from './virtqueue.ts';

/** 2: MACs in formatMac's form (`02:00:00:00:00:01`), as every other snapshot field. */
export const STATE_VERSION = 2;
/** States saved before (`vmswitch boot --save`) wrote MACs as 12 hex digits; they still restore. */
const HEX_MAC_VERSION = 1;

export interface VirtioNetState {
  version: number;
  transport: TransportState;
  queues: VirtqueueState[];
  /** Negotiated features (hex); meaningful once FEATURES_OK is set. */
  features: string;
  /** formatMac's form (net/frame.ts). */
  mac: string;
  linkUp: boolean;
  filter: RxFilterState;
}

function fail(what: string): never {
  throw new DeviceStateError(DEVICE_NAME, `bad saved state (${what})`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function num(record: Record<string, unknown>, key: string, where: string): number {
  const value = record[key];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) fail(`${where}.${key} is not a non-negative integer`);
  return value;
}

/**
 * A ring address as the transport keeps it: the driver writes 64-bit values
 * (two 32-bit halves), so it may be beyond 2^53 and no longer exact; it only
 * has to be what the device saved (an address outside RAM marks the queue broken).
 */
function address(record: Record<string, unknown>, key: string, where: string): number {
  const value = record[key];
  // 2^64 itself: the top addresses round up to it as doubles.
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 2 ** 64) fail(`${where}.${key} is not a 64-bit address`);
  return value;
}

function bool(record: Record<string, unknown>, key: string, where: string): boolean {
  const value = record[key];
  if (typeof value !== 'boolean') fail(`${where}.${key} is not a boolean`);
  return value;
}

function hex(record: Record<string, unknown>, key: string, where: string): string {
  const value = record[key];
  if (typeof value !== 'string' || !/^[0-9a-f]{0,16}$/i.test(value)) fail(`${where}.${key} is not hex`);
  return value;
}

/** A saved MAC in formatMac's form whatever form its version wrote, or undefined when it is none. */
function savedMac(value: unknown, version: number): string | undefined {
  if (typeof value !== 'string') return undefined;
  let text = value;
  if (version === HEX_MAC_VERSION) {
    if (!/^[0-9a-f]{12}$/.test(value)) return undefined;
    text = value.match(/../g)!.join(':');
  }
  try {
    return formatMac(parseMac(text));
  } catch {
    return undefined;
  }
}

function macList(value: unknown, version: number, where: string): string[] {
  if (!Array.isArray(value)) fail(`${where} is not a MAC list`);
  return value.map((m: unknown) => savedMac(m, version) ?? fail(`${where} is not a MAC list`));
}

export function parseState(raw: unknown, queueCount: number): VirtioNetState {
  if (!isRecord(raw)) fail('not an object');
  const version = raw.version;
  if (version !== STATE_VERSION && version !== HEX_MAC_VERSION) fail(`version ${String(version)}, expected ${HEX_MAC_VERSION} or ${STATE_VERSION}`);
  const t = raw.transport;
  if (!isRecord(t)) fail('transport missing');
  const transport: TransportState = {
    status: num(t, 'status', 'transport'),
    deviceFeatureSelect: num(t, 'deviceFeatureSelect', 'transport'),
    driverFeatureSelect: num(t, 'driverFeatureSelect', 'transport'),
    driverFeatures: hex(t, 'driverFeatures', 'transport'),
    queueSelect: num(t, 'queueSelect', 'transport'),
    configGeneration: num(t, 'configGeneration', 'transport'),
    isr: num(t, 'isr', 'transport'),
  };
  if (!Array.isArray(raw.queues) || raw.queues.length !== queueCount) fail(`expected ${queueCount} queues`);
  const queues = raw.queues.map((q: unknown, i: number): VirtqueueState => {
    if (!isRecord(q)) fail(`queue ${i} is not an object`);
    const where = `queues[${i}]`;
    return {
      size: num(q, 'size', where),
      enabled: bool(q, 'enabled', where),
      desc: address(q, 'desc', where),
      avail: address(q, 'avail', where),
      used: address(q, 'used', where),
      lastAvail: num(q, 'lastAvail', where),
      usedIdx: num(q, 'usedIdx', where),
      broken: bool(q, 'broken', where),
    };
  });
  const f = raw.filter;
  if (!isRecord(f)) fail('filter missing');
  const filter: RxFilterState = {
    promisc: bool(f, 'promisc', 'filter'),
    allmulti: bool(f, 'allmulti', 'filter'),
    unicast: macList(f.unicast, version, 'filter.unicast'),
    multicast: macList(f.multicast, version, 'filter.multicast'),
    unicastOverflow: bool(f, 'unicastOverflow', 'filter'),
    multicastOverflow: bool(f, 'multicastOverflow', 'filter'),
  };
  const mac = savedMac(raw.mac, version) ?? fail('mac');
  return {
    version: STATE_VERSION,
    transport,
    queues,
    features: hex(raw, 'features', 'state'),
    mac,
    linkUp: bool(raw, 'linkUp', 'state'),
    filter,
  };
}
