// A VM snapshot in one byte array: magic, a JSON header (machine shape and our
// devices' state), then v86's own state blob. The one reader and writer of the
// container, for the Node runtime and the browser worker alike: so only
// TextEncoder/TextDecoder and DataView here, no Buffer and no node: imports.
//
// Layout: "VMSWSNAP" (ASCII), u32 LE length of the JSON, the JSON (UTF-8), v86 state.
import { parseMac } from './net/frame.ts';
import { ALL_NIC_MODELS, type NicModel } from './net/nic.ts';

const MAGIC = new TextEncoder().encode('VMSWSNAP');
/** Where the JSON header starts: after the magic and its u32 length. */
export const SNAPSHOT_HEADER_OFFSET = MAGIC.length + 4;
export const SNAPSHOT_FORMAT = 1;

export interface SnapshotHeader {
  format: number;
  memoryMiB: number;
  /** The MAC is formatMac's text (net/frame.ts), as parseMac reads it back. */
  nics: { model: NicModel; mac: string; state: unknown }[];
  /** The image the guest was booted from (its RAM holds that kernel and initramfs). */
  image: { kernelVersion: string; recipeHash?: string };
  createdAt: string;
}

export interface DecodedSnapshot {
  header: SnapshotHeader;
  /** A view into the decoded bytes, not a copy. */
  v86State: Uint8Array;
}

export class SnapshotFormatError extends Error {
  override name = 'SnapshotFormatError';
}

export function encodeSnapshot(header: SnapshotHeader, v86State: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(SNAPSHOT_HEADER_OFFSET + json.length + v86State.length);
  out.set(MAGIC, 0);
  new DataView(out.buffer).setUint32(MAGIC.length, json.length, true);
  out.set(json, SNAPSHOT_HEADER_OFFSET);
  out.set(v86State, SNAPSHOT_HEADER_OFFSET + json.length);
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

/** Throws SnapshotFormatError naming what is wrong. */
export function decodeSnapshot(bytes: Uint8Array): DecodedSnapshot {
  const jsonLength = snapshotHeaderLength(bytes);
  if (jsonLength === undefined) throw new SnapshotFormatError('not a vmswitch snapshot (bad magic)');
  const end = SNAPSHOT_HEADER_OFFSET + jsonLength;
  if (end > bytes.length) throw new SnapshotFormatError('truncated vmswitch snapshot');
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(SNAPSHOT_HEADER_OFFSET, end)));
  } catch {
    throw new SnapshotFormatError('vmswitch snapshot header is not valid JSON');
  }
  checkHeader(header);
  return { header, v86State: bytes.subarray(end) };
}

/** Enough that a restore never starts on a header it would trip over half-way. */
function checkHeader(value: unknown): asserts value is SnapshotHeader {
  const header = (value ?? {}) as Partial<Record<keyof SnapshotHeader, unknown>>;
  if (header.format !== SNAPSHOT_FORMAT) throw new SnapshotFormatError(`unsupported snapshot format ${String(header.format)} (expected ${SNAPSHOT_FORMAT})`);
  const incomplete = (what: string): SnapshotFormatError => new SnapshotFormatError(`vmswitch snapshot header is incomplete: ${what}`);
  if (typeof header.memoryMiB !== 'number' || !Number.isInteger(header.memoryMiB) || header.memoryMiB <= 0) throw incomplete(`no memory size (memoryMiB ${JSON.stringify(header.memoryMiB)})`);
  if (!Array.isArray(header.nics)) throw incomplete('no NIC list');
  const image = header.image as { kernelVersion?: unknown } | undefined;
  if (typeof image?.kernelVersion !== 'string') throw incomplete('no image kernel version');
  header.nics.forEach((nic: { model?: unknown; mac?: unknown } | null, i) => {
    if (!ALL_NIC_MODELS.includes(nic?.model as NicModel)) throw new SnapshotFormatError(`snapshot NIC ${i} has unknown model ${JSON.stringify(nic?.model)}`);
    try {
      parseMac(nic?.mac as string);
    } catch {
      throw new SnapshotFormatError(`snapshot NIC ${i} has no valid MAC (${JSON.stringify(nic?.mac)})`);
    }
  });
}
