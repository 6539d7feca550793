// A VM snapshot in one byte array: magic, a JSON header (machine shape and our
// devices' state), then v86's own state blob, then a checksum of all of it.
// The one reader and writer of the container, for the Node runtime and the
// browser worker alike: so only TextEncoder/TextDecoder and DataView here, no
// Buffer and no node: imports.
//
// Layout (format 2): "VMSWSNAP" (ASCII), u32 LE length of the JSON, the JSON
// (UTF-8), the v86 state, u32 LE CRC-32 of every byte before it.
//
// A snapshot is a file anyone can hand us: everything is checked (magic,
// sizes against fixed bounds, the checksum, every header field a restore
// reads) before the caller applies anything, and every failure is a
// SnapshotFormatError naming what is wrong. The checksum catches corruption
// (a disk, a download), not forgery: a crafted file can carry a right
// checksum, so the bounds and field checks here, and each device's own state
// checks (DeviceStateError), are what stand against a hostile file.
//
// Format 1 (the same layout without the checksum and without stateLength) is
// refused, not read: its "format":1 is one bit away from format 2's "format":2,
// so reading it would let a single flipped bit turn a checked snapshot into an
// unchecked one. Templates are re-made on their own (template-cache.ts); a
// snapshot saved with `--save` before format 2 has to be saved again.
import { crc32 } from './crc32.ts';
import { parseMac } from './net/frame.ts';
import { ALL_NIC_MODELS, type NicModel } from './net/nic.ts';

const MAGIC = new TextEncoder().encode('VMSWSNAP');
/** Where the JSON header starts: after the magic and its u32 length. */
export const SNAPSHOT_HEADER_OFFSET = MAGIC.length + 4;
const CHECKSUM_BYTES = 4;
export const SNAPSHOT_FORMAT = 2;

/**
 * The guest RAM sizes a VM can have (vm.ts re-exports them; `vmswitch boot --mem`
 * takes the same range). v86 places the initrd high in RAM: 80 MiB boots, 64 does not.
 */
export const MIN_MEMORY_MIB = 80;
export const MAX_MEMORY_MIB = 2048;
/** Our headers are a few KiB (one NIC's state is ~1 KiB); a megabyte leaves room and bounds the parse. */
export const MAX_HEADER_BYTES = 1 << 20;
/** One NIC per PCI slot at the very most. */
export const MAX_NICS = 32;
/**
 * v86's state holds the guest RAM (zero pages left out), 2 MiB of VGA memory
 * and the devices' buffers: never more than the RAM plus this.
 */
const STATE_OVERHEAD_BYTES = 64 << 20;
const MAX_TEXT_FIELD = 256;

export interface SnapshotHeader {
  format: number;
  memoryMiB: number;
  /** The MAC is formatMac's text (net/frame.ts), as parseMac reads it back. */
  nics: { model: NicModel; mac: string; state: unknown }[];
  /** The image the guest was booted from (its RAM holds that kernel and initramfs). */
  image: { kernelVersion: string; recipeHash?: string };
  createdAt: string;
  /** Bytes of v86 state after the header (format 2): a truncated file is named as such. */
  stateLength: number;
}

/** What a caller gives the writer: the format and the state length are the writer's to fill in. */
export type SnapshotContent = Omit<SnapshotHeader, 'format' | 'stateLength'>;

export interface DecodedSnapshot {
  header: SnapshotHeader;
  /** A view into the decoded bytes, not a copy. */
  v86State: Uint8Array;
}

export class SnapshotFormatError extends Error {
  override name = 'SnapshotFormatError';
}

export function encodeSnapshot(content: SnapshotContent, v86State: Uint8Array): Uint8Array {
  return encodeContainer({ ...content, format: SNAPSHOT_FORMAT, stateLength: v86State.length }, v86State);
}

/**
 * The container around any JSON value, checksum included: encodeSnapshot's
 * body, and how tests and the fuzzer make well-formed files with hostile headers.
 */
export function encodeContainer(header: unknown, v86State: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header) ?? 'null');
  const checked = SNAPSHOT_HEADER_OFFSET + json.length + v86State.length;
  const out = new Uint8Array(checked + CHECKSUM_BYTES);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  view.setUint32(MAGIC.length, json.length, true);
  out.set(json, SNAPSHOT_HEADER_OFFSET);
  out.set(v86State, SNAPSHOT_HEADER_OFFSET + json.length);
  view.setUint32(checked, crc32(out.subarray(0, checked)), true);
  return out;
}

/**
 * The JSON header's length from the container's first SNAPSHOT_HEADER_OFFSET
 * bytes, or undefined when they are not a snapshot's (too short, bad magic):
 * a listing reads only a file's head.
 */
export function snapshotHeaderLength(head: Uint8Array): number | undefined {
  if (head.length < SNAPSHOT_HEADER_OFFSET || MAGIC.some((byte, i) => head[i] !== byte)) return undefined;
  return new DataView(head.buffer, head.byteOffset, head.byteLength).getUint32(MAGIC.length, true);
}

/**
 * The header from the file's head alone (the magic, the length and the JSON),
 * checked as decodeSnapshot checks it but without the checksum, which needs
 * the whole file: for listings. Throws SnapshotFormatError.
 */
export function decodeSnapshotHeader(head: Uint8Array): SnapshotHeader {
  return parseHeader(head).header;
}

/** The whole snapshot, checksum included. Throws SnapshotFormatError naming what is wrong. */
export function decodeSnapshot(bytes: Uint8Array): DecodedSnapshot {
  const { header, end } = parseHeader(bytes);
  const available = bytes.length - end - CHECKSUM_BYTES;
  if (available !== header.stateLength) {
    const what = available < header.stateLength ? 'truncated' : 'has trailing bytes';
    throw new SnapshotFormatError(`vmswitch snapshot is ${what}: ${Math.max(0, available)} bytes of v86 state where the header says ${header.stateLength}`);
  }
  const checked = end + header.stateLength;
  const stored = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(checked, true);
  const actual = crc32(bytes.subarray(0, checked));
  if (stored !== actual) throw new SnapshotFormatError(`vmswitch snapshot is corrupt: CRC-32 ${hex(actual)} where the file says ${hex(stored)}`);
  return { header, v86State: bytes.subarray(end, checked) };
}

function hex(value: number): string {
  return value.toString(16).padStart(8, '0');
}

function parseHeader(bytes: Uint8Array): { header: SnapshotHeader; end: number } {
  const jsonLength = snapshotHeaderLength(bytes);
  if (jsonLength === undefined) {
    throw new SnapshotFormatError(bytes.length < SNAPSHOT_HEADER_OFFSET ? `truncated vmswitch snapshot (${bytes.length} bytes)` : 'not a vmswitch snapshot (bad magic)');
  }
  if (jsonLength > MAX_HEADER_BYTES) throw new SnapshotFormatError(`vmswitch snapshot header length ${jsonLength} is over the ${MAX_HEADER_BYTES}-byte limit`);
  const end = SNAPSHOT_HEADER_OFFSET + jsonLength;
  if (end > bytes.length) throw new SnapshotFormatError(`truncated vmswitch snapshot: ${bytes.length} bytes, the header alone needs ${end}`);
  let header: unknown;
  try {
    // fatal: a flipped bit that breaks UTF-8 is an error, not a U+FFFD that JSON.parse accepts inside a string.
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(SNAPSHOT_HEADER_OFFSET, end)));
  } catch {
    throw new SnapshotFormatError('vmswitch snapshot header is not valid JSON');
  }
  checkHeader(header);
  return { header, end };
}

type Fields = Partial<Record<string, unknown>>;

function isRecord(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isBoundedInteger(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

function isShortText(value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_TEXT_FIELD;
}

/** Every field a restore reads, in type and in bounds: a restore never starts on a header it would trip over half-way. */
function checkHeader(value: unknown): asserts value is SnapshotHeader {
  const bad = (what: string): SnapshotFormatError => new SnapshotFormatError(`vmswitch snapshot header: ${what}`);
  if (!isRecord(value)) throw bad(`not an object (${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value})`);
  const header = value;
  if (header.format === 1) throw new SnapshotFormatError('snapshot format 1 (no checksum) is no longer read: boot the VM and save it again');
  if (header.format !== SNAPSHOT_FORMAT) throw new SnapshotFormatError(`unsupported snapshot format ${describe(header.format)} (expected ${SNAPSHOT_FORMAT})`);
  if (!isBoundedInteger(header.memoryMiB, MIN_MEMORY_MIB, MAX_MEMORY_MIB)) throw bad(`memoryMiB ${describe(header.memoryMiB)} is not an integer ${MIN_MEMORY_MIB}-${MAX_MEMORY_MIB}`);
  const maxState = header.memoryMiB * 1024 * 1024 + STATE_OVERHEAD_BYTES;
  if (!isBoundedInteger(header.stateLength, 0, maxState)) throw bad(`stateLength ${describe(header.stateLength)} is not an integer 0-${maxState} (${header.memoryMiB} MiB of RAM)`);
  if (!isRecord(header.image) || !isShortText(header.image.kernelVersion)) throw bad('no image kernel version');
  if (header.image.recipeHash !== undefined && !isShortText(header.image.recipeHash)) throw bad(`image recipeHash ${describe(header.image.recipeHash)} is not a string`);
  if (!isShortText(header.createdAt)) throw bad(`createdAt ${describe(header.createdAt)} is not a string`);
  if (!Array.isArray(header.nics)) throw bad('no NIC list');
  if (header.nics.length > MAX_NICS) throw bad(`${header.nics.length} NICs, more than ${MAX_NICS}`);
  header.nics.forEach((nic: unknown, i) => {
    if (!isRecord(nic)) throw new SnapshotFormatError(`snapshot NIC ${i} is not an object`);
    if (!ALL_NIC_MODELS.includes(nic.model as NicModel)) throw new SnapshotFormatError(`snapshot NIC ${i} has unknown model ${describe(nic.model)}`);
    if (typeof nic.mac !== 'string' || !isValidMac(nic.mac)) throw new SnapshotFormatError(`snapshot NIC ${i} has no valid MAC (${describe(nic.mac)})`);
    // The state itself is the device's to check (DeviceStateError), before it applies any of it.
    if (!('state' in nic)) throw new SnapshotFormatError(`snapshot NIC ${i} has no state`);
  });
}

function isValidMac(text: string): boolean {
  try {
    parseMac(text);
    return true;
  } catch {
    return false;
  }
}

/** A field's value for an error message, cut short: the header may be hostile. */
function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}
