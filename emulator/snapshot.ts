// A VM snapshot in one byte array: magic, a JSON header (machine shape and our
// devices' state), then v86's own state blob.
import type { NicModel } from './net/nic.ts';

const MAGIC = Buffer.from('VMSWSNAP', 'latin1');
export const SNAPSHOT_FORMAT = 1;

export interface SnapshotHeader {
  format: number;
  memoryMiB: number;
  nics: { model: NicModel; mac: string; state: unknown }[];
  /** The image the guest was booted from (its RAM holds that kernel and initramfs). */
  image: { kernelVersion: string; recipeHash?: string };
  createdAt: string;
}

export class SnapshotFormatError extends Error {
  override name = 'SnapshotFormatError';
}

export function encodeSnapshot(header: SnapshotHeader, v86State: Uint8Array): Uint8Array {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const out = new Uint8Array(MAGIC.length + 4 + json.length + v86State.length);
  out.set(MAGIC, 0);
  new DataView(out.buffer).setUint32(MAGIC.length, json.length, true);
  out.set(json, MAGIC.length + 4);
  out.set(v86State, MAGIC.length + 4 + json.length);
  return out;
}

export function decodeSnapshot(bytes: Uint8Array): { header: SnapshotHeader; v86State: Uint8Array } {
  if (bytes.length < MAGIC.length + 4 || !Buffer.from(bytes.buffer, bytes.byteOffset, MAGIC.length).equals(MAGIC)) {
    throw new SnapshotFormatError('not a vmswitch snapshot (bad magic)');
  }
  const jsonLength = new DataView(bytes.buffer, bytes.byteOffset).getUint32(MAGIC.length, true);
  const start = MAGIC.length + 4;
  if (start + jsonLength > bytes.length) throw new SnapshotFormatError('truncated vmswitch snapshot');
  let header: SnapshotHeader;
  try {
    header = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + start, jsonLength).toString('utf8')) as SnapshotHeader;
  } catch {
    throw new SnapshotFormatError('vmswitch snapshot header is not valid JSON');
  }
  if (header.format !== SNAPSHOT_FORMAT) throw new SnapshotFormatError(`unsupported snapshot format ${String(header.format)} (expected ${SNAPSHOT_FORMAT})`);
  if (!Number.isInteger(header.memoryMiB) || header.memoryMiB <= 0 || !Array.isArray(header.nics)) {
    throw new SnapshotFormatError('vmswitch snapshot header is incomplete');
  }
  return { header, v86State: bytes.subarray(start + jsonLength) };
}
