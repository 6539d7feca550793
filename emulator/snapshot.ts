// A VM snapshot in one byte array: magic, a JSON header (machine shape and our
// devices' state), then v86's own state blob, deflated, then a checksum of all of it.
// The one reader and writer of the container, for the Node runtime and the
// browser worker alike: so only TextEncoder/TextDecoder, DataView and the web
// compression streams here, no Buffer and no static node: imports (in Node,
// zlib is taken through process.getBuiltinModule: it inflates off the main
// thread, 2-3x faster than Node's DecompressionStream, and has a native CRC-32).
//
// Layout (format 3): "VMSWSNAP" (ASCII), u32 LE length of the JSON, the JSON
// (UTF-8), the v86 state compressed as a zlib stream (RFC 1950: what
// DecompressionStream('deflate') reads), u32 LE CRC-32 of every byte before it.
// The header says how long the compressed body is (storedLength) and how long
// the state is once inflated (stateLength): inflating stops at stateLength, so a
// compression bomb costs no more memory than an honest file of that size.
//
// Zero pages: v86's own state already stores guest RAM as a bitmap of the
// non-zero 4 KiB pages and those pages alone. What made a 128 MiB guest's state
// 60 MB is stale data in *free* guest pages (the loaded initrd and bzImage
// after the kernel unpacked them): vm.ts has the guest zero its free memory
// (ZERO_FREE_MEMORY_COMMAND) before it saves, so those pages become zero pages
// that v86 leaves out; deflate then halves the rest (kernel, page cache).
//
// A snapshot is a file anyone can hand us: everything is checked (magic,
// sizes against fixed bounds, the checksum, the inflated length, every header
// field a restore reads) before the caller applies anything, and every failure
// is a SnapshotFormatError naming what is wrong. The checksum catches corruption
// (a disk, a download), not forgery: a crafted file can carry a right
// checksum, so the bounds and field checks here, and each device's own state
// checks (DeviceStateError), are what stand against a hostile file.
//
// Formats 1 (no checksum) and 2 (uncompressed state) are refused, not read:
// "format":1 and "format":2 are each one bit away from "format":3, and a second
// reader would keep an unchecked or unbounded path alive for old files.
// Templates are re-made on their own (template-cache.ts); a snapshot saved
// with `--save` before format 3 has to be saved again.
import { crc32 } from './crc32.ts';
import { parseMac } from './net/frame.ts';
import { ALL_NIC_MODELS, type NicModel } from './net/nic.ts';

const MAGIC = new TextEncoder().encode('VMSWSNAP');
/** Where the JSON header starts: after the magic and its u32 length. */
export const SNAPSHOT_HEADER_OFFSET = MAGIC.length + 4;
const CHECKSUM_BYTES = 4;
export const SNAPSHOT_FORMAT = 3;
/** The compression of the state: 'deflate' is the zlib stream DecompressionStream and Node's zlib both read. */
export const SNAPSHOT_COMPRESSION = 'deflate';

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
  /** Bytes of v86 state once inflated: the inflater stops there (a compression bomb is refused at this size). */
  stateLength: number;
  /** How the state is stored after the header. */
  compression: typeof SNAPSHOT_COMPRESSION;
  /** Bytes of compressed state after the header: a truncated file is named as such. */
  storedLength: number;
}

/** What a caller gives the writer: the format and the state length are the writer's to fill in. */
export type SnapshotContent = Omit<SnapshotHeader, 'format' | 'stateLength' | 'compression' | 'storedLength'>;

export interface DecodedSnapshot {
  header: SnapshotHeader;
  /** The inflated v86 state, exactly stateLength bytes. */
  v86State: Uint8Array;
}

export class SnapshotFormatError extends Error {
  override name = 'SnapshotFormatError';
}

/**
 * The guest command that zeroes the guest's free memory before a save: dd
 * takes all free RAM but a margin, which the kernel hands out zero-filled, and
 * gives it back on exit as zero pages that v86's state leaves out (a 128 MiB
 * guest's state goes from ~60 to ~50 MB, ~20 MB deflated). The margin keeps
 * reclaim and the OOM killer away: with 12 MiB dd took 1.2 s in a 128 MiB guest,
 * with 4 MiB 3-8 s, for the same state size (what is left is the kernel's own
 * memory, page cache and the DMA zone, which dd does not get).
 */
export const ZERO_FREE_MEMORY_COMMAND =
  "free=$(awk '/^MemFree:/{print $2}' /proc/meminfo); n=$(( (free - 12288) / 1024 )); [ \"$n\" -gt 0 ] && dd if=/dev/zero of=/dev/null bs=${n}M count=1 2>/dev/null; true";

export async function encodeSnapshot(content: SnapshotContent, v86State: Uint8Array): Promise<Uint8Array> {
  const stored = await deflate(v86State);
  return encodeContainer({ ...content, format: SNAPSHOT_FORMAT, stateLength: v86State.length, compression: SNAPSHOT_COMPRESSION, storedLength: stored.length }, stored);
}

/**
 * The container around any JSON value and body, checksum included:
 * encodeSnapshot's body, and how tests and the fuzzer make well-formed files
 * with hostile headers or hostile compressed streams.
 */
export function encodeContainer(header: unknown, body: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header) ?? 'null');
  const checked = SNAPSHOT_HEADER_OFFSET + json.length + body.length;
  const out = new Uint8Array(checked + CHECKSUM_BYTES);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  view.setUint32(MAGIC.length, json.length, true);
  out.set(json, SNAPSHOT_HEADER_OFFSET);
  out.set(body, SNAPSHOT_HEADER_OFFSET + json.length);
  view.setUint32(checked, checksum(out.subarray(0, checked)), true);
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

/**
 * The whole snapshot: checksum, then the state inflated to exactly the length
 * the header says. Rejects with SnapshotFormatError naming what is wrong.
 */
export async function decodeSnapshot(bytes: Uint8Array): Promise<DecodedSnapshot> {
  const { header, end } = parseHeader(bytes);
  const available = bytes.length - end - CHECKSUM_BYTES;
  if (available !== header.storedLength) {
    const what = available < header.storedLength ? 'truncated' : 'has trailing bytes';
    throw new SnapshotFormatError(`vmswitch snapshot is ${what}: ${Math.max(0, available)} bytes of compressed state where the header says ${header.storedLength}`);
  }
  const checked = end + header.storedLength;
  const stored = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(checked, true);
  const actual = checksum(bytes.subarray(0, checked));
  if (stored !== actual) throw new SnapshotFormatError(`vmswitch snapshot is corrupt: CRC-32 ${hex(actual)} where the file says ${hex(stored)}`);
  const v86State = await inflate(bytes.subarray(end, checked), header.stateLength);
  return { header, v86State };
}

type NodeZlib = typeof import('node:zlib');

/** Node's zlib when running in Node (20.16+), else undefined: the browser and older Nodes use the web streams. */
function nodeZlib(): NodeZlib | undefined {
  const process = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  return process?.getBuiltinModule?.('node:zlib') as NodeZlib | undefined;
}

/** CRC-32: Node's native one where there is one (20.15+; ~4x the JS one), else the JS one (the browser). */
function checksum(bytes: Uint8Array): number {
  const native = nodeZlib()?.crc32;
  return typeof native === 'function' ? native(bytes) : crc32(bytes);
}

async function deflate(data: Uint8Array): Promise<Uint8Array> {
  const zlib = nodeZlib();
  if (zlib) {
    const out = await new Promise<Uint8Array>((resolve, reject) => zlib.deflate(data, { level: 6 }, (error, result) => (error ? reject(error) : resolve(result))));
    // A plain Uint8Array over the same memory: callers compare and serialise it as one.
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }
  const reader = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new CompressionStream('deflate')).getReader();
  const chunks: Uint8Array[] = [];
  let length = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    length += value.length;
  }
  const out = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/** Exactly `length` bytes out of a zlib stream, or SnapshotFormatError: never more memory than `length` (+ one chunk). */
async function inflate(data: Uint8Array, length: number): Promise<Uint8Array> {
  const zlib = nodeZlib();
  let out: Uint8Array;
  if (zlib) {
    out = await new Promise<Uint8Array>((resolve, reject) =>
      zlib.inflate(data, { maxOutputLength: Math.max(1, length + 1) }, (error, result) => {
        if (!error) resolve(new Uint8Array(result.buffer, result.byteOffset, result.byteLength));
        else if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') reject(tooLong(length));
        else reject(new SnapshotFormatError(`vmswitch snapshot state does not inflate: ${error.message}`));
      }),
    );
  } else {
    out = await inflateWeb(data, length);
  }
  if (out.length !== length) throw new SnapshotFormatError(`vmswitch snapshot state inflates to ${out.length} bytes where the header says ${length}`);
  return out;
}

function tooLong(length: number): SnapshotFormatError {
  return new SnapshotFormatError(`vmswitch snapshot state inflates to more than the ${length} bytes the header says`);
}

async function inflateWeb(data: Uint8Array, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let filled = 0;
  const reader = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('deflate')).getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (filled + value.length > length) throw tooLong(length);
      out.set(value, filled);
      filled += value.length;
    }
  } catch (error) {
    await reader.cancel().catch(() => undefined);
    if (error instanceof SnapshotFormatError) throw error;
    throw new SnapshotFormatError(`vmswitch snapshot state does not inflate: ${(error as Error)?.message ?? String(error)}`);
  }
  return out.subarray(0, filled);
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
  if (header.format === 2) throw new SnapshotFormatError('snapshot format 2 (uncompressed) is no longer read: boot the VM and save it again');
  if (header.format !== SNAPSHOT_FORMAT) throw new SnapshotFormatError(`unsupported snapshot format ${describe(header.format)} (expected ${SNAPSHOT_FORMAT})`);
  if (!isBoundedInteger(header.memoryMiB, MIN_MEMORY_MIB, MAX_MEMORY_MIB)) throw bad(`memoryMiB ${describe(header.memoryMiB)} is not an integer ${MIN_MEMORY_MIB}-${MAX_MEMORY_MIB}`);
  const maxState = header.memoryMiB * 1024 * 1024 + STATE_OVERHEAD_BYTES;
  if (!isBoundedInteger(header.stateLength, 0, maxState)) throw bad(`stateLength ${describe(header.stateLength)} is not an integer 0-${maxState} (${header.memoryMiB} MiB of RAM)`);
  if (header.compression !== SNAPSHOT_COMPRESSION) throw bad(`compression ${describe(header.compression)} is not ${JSON.stringify(SNAPSHOT_COMPRESSION)}`);
  // Deflate never grows data by more than ~0.03% (+ a few bytes): a longer body is not one our writer made.
  const maxStored = header.stateLength + (header.stateLength >> 10) + 64;
  if (!isBoundedInteger(header.storedLength, 0, maxStored)) throw bad(`storedLength ${describe(header.storedLength)} is not an integer 0-${maxStored}`);
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
