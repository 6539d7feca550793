// A template snapshot as the worker restores it. The container is the Node
// runtime's (emulator/snapshot.ts: "VMSWSNAP", u32 LE JSON length, JSON
// header, v86 state); that module uses Buffer, so the browser reads the same
// layout here with DataView and TextDecoder.
import type { NicModel } from '../../emulator/net/nic.ts';
import { NIC_MODELS } from '../../emulator/net/nic.ts';

const MAGIC = 'VMSWSNAP';
const SUPPORTED_FORMAT = 1;

export interface BrowserSnapshot {
  memoryMiB: number;
  nics: NicModel[];
  /** The template's MACs, in NIC order. */
  macs: string[];
  nicStates: unknown[];
  kernelVersion: string;
  v86State: Uint8Array;
}

interface Header {
  format?: unknown;
  memoryMiB?: unknown;
  nics?: { model?: unknown; mac?: unknown; state?: unknown }[];
  image?: { kernelVersion?: unknown };
}

/** Just the JSON header (the listing reads only a file's first bytes). */
export function snapshotHeaderLength(head: Uint8Array): number | undefined {
  if (head.length < MAGIC.length + 4) return undefined;
  if (new TextDecoder('latin1').decode(head.subarray(0, MAGIC.length)) !== MAGIC) return undefined;
  return new DataView(head.buffer, head.byteOffset, head.byteLength).getUint32(MAGIC.length, true);
}

export function parseBrowserSnapshot(bytes: Uint8Array): BrowserSnapshot {
  const jsonLength = snapshotHeaderLength(bytes);
  if (jsonLength === undefined) throw new Error('not a vmswitch snapshot (bad magic)');
  const start = MAGIC.length + 4;
  if (start + jsonLength > bytes.length) throw new Error('truncated vmswitch snapshot');
  let header: Header;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(start, start + jsonLength))) as Header;
  } catch {
    throw new Error('vmswitch snapshot header is not valid JSON');
  }
  if (header.format !== SUPPORTED_FORMAT) throw new Error(`unsupported snapshot format ${String(header.format)} (expected ${SUPPORTED_FORMAT})`);
  const memoryMiB = header.memoryMiB;
  if (typeof memoryMiB !== 'number' || !Number.isInteger(memoryMiB) || memoryMiB <= 0) throw new Error('vmswitch snapshot header has no memory size');
  if (!Array.isArray(header.nics)) throw new Error('vmswitch snapshot header has no NIC list');
  const nics = header.nics.map((nic, i) => {
    if (!NIC_MODELS.includes(nic.model as NicModel)) throw new Error(`snapshot NIC ${i} has unknown model ${JSON.stringify(nic.model)}`);
    if (typeof nic.mac !== 'string') throw new Error(`snapshot NIC ${i} has no MAC`);
    return { model: nic.model as NicModel, mac: nic.mac, state: nic.state };
  });
  return {
    memoryMiB,
    nics: nics.map((n) => n.model),
    macs: nics.map((n) => n.mac),
    nicStates: nics.map((n) => n.state),
    kernelVersion: typeof header.image?.kernelVersion === 'string' ? header.image.kernelVersion : '',
    v86State: bytes.subarray(start + jsonLength),
  };
}
