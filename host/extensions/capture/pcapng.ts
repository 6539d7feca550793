// pcapng generation as bytes (no I/O, so it runs in a browser worker too):
// a Section Header Block, one Interface Description Block per interface
// (added as interfaces appear), Enhanced Packet Blocks. Little-endian,
// microsecond timestamps (the default if_tsresol).
// Format: IETF draft-ietf-opsawg-pcapng (the pcapng specification).

const BLOCK_SHB = 0x0a0d0d0a;
const BLOCK_IDB = 0x00000001;
const BLOCK_EPB = 0x00000006;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const LINKTYPE_ETHERNET = 1;
const OPT_END = 0;
const OPT_COMMENT = 1;
const OPT_IF_NAME = 2;
const OPT_IF_DESCRIPTION = 3;
const OPT_SHB_USERAPPL = 4;
const OPT_EPB_FLAGS = 2;

export type PacketDirection = 'inbound' | 'outbound';

const encoder = new TextEncoder();

function pad4(n: number): number {
  return (n + 3) & ~3;
}

/** Options as (code, bytes) pairs, encoded with padding and the end marker. */
function optionsLength(options: [number, Uint8Array][]): number {
  if (options.length === 0) return 0;
  let total = 4;
  for (const [, value] of options) total += 4 + pad4(value.length);
  return total;
}

function writeOptions(view: DataView, bytes: Uint8Array, offset: number, options: [number, Uint8Array][]): number {
  if (options.length === 0) return offset;
  for (const [code, value] of options) {
    view.setUint16(offset, code, true);
    view.setUint16(offset + 2, value.length, true);
    bytes.set(value, offset + 4);
    offset += 4 + pad4(value.length);
  }
  view.setUint16(offset, OPT_END, true);
  view.setUint16(offset + 2, 0, true);
  return offset + 4;
}

function block(type: number, bodyLength: number, fill: (view: DataView, bytes: Uint8Array, offset: number) => void): Uint8Array {
  const total = 12 + bodyLength;
  const bytes = new Uint8Array(total);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, type, true);
  view.setUint32(4, total, true);
  fill(view, bytes, 8);
  view.setUint32(total - 4, total, true);
  return bytes;
}

export function sectionHeaderBlock(application: string, comment?: string): Uint8Array {
  const options: [number, Uint8Array][] = [[OPT_SHB_USERAPPL, encoder.encode(application)]];
  if (comment) options.push([OPT_COMMENT, encoder.encode(comment)]);
  const body = 16 + optionsLength(options);
  return block(BLOCK_SHB, body, (view, bytes, offset) => {
    view.setUint32(offset, BYTE_ORDER_MAGIC, true);
    view.setUint16(offset + 4, 1, true);
    view.setUint16(offset + 6, 0, true);
    // Section length unknown (-1): we append as we go.
    view.setInt32(offset + 8, -1, true);
    view.setInt32(offset + 12, -1, true);
    writeOptions(view, bytes, offset + 16, options);
  });
}

export function interfaceDescriptionBlock(name: string, description: string | undefined, snapLength: number): Uint8Array {
  const options: [number, Uint8Array][] = [[OPT_IF_NAME, encoder.encode(name)]];
  if (description) options.push([OPT_IF_DESCRIPTION, encoder.encode(description)]);
  const body = 8 + optionsLength(options);
  return block(BLOCK_IDB, body, (view, bytes, offset) => {
    view.setUint16(offset, LINKTYPE_ETHERNET, true);
    view.setUint16(offset + 2, 0, true);
    view.setUint32(offset + 4, snapLength, true);
    writeOptions(view, bytes, offset + 8, options);
  });
}

/** One packet: `timeMs` is a wall-clock time in milliseconds (fractions kept to the microsecond). */
export function enhancedPacketBlock(
  interfaceId: number,
  timeMs: number,
  data: Uint8Array,
  snapLength: number,
  direction?: PacketDirection,
): Uint8Array {
  const captured = Math.min(data.length, snapLength);
  const options: [number, Uint8Array][] = [];
  if (direction) {
    const flags = new Uint8Array(4);
    // Bits 0-1 of epb_flags: 01 inbound, 10 outbound.
    new DataView(flags.buffer).setUint32(0, direction === 'inbound' ? 1 : 2, true);
    options.push([OPT_EPB_FLAGS, flags]);
  }
  const body = 20 + pad4(captured) + optionsLength(options);
  const micros = Math.max(0, Math.round(timeMs * 1000));
  return block(BLOCK_EPB, body, (view, bytes, offset) => {
    view.setUint32(offset, interfaceId, true);
    view.setUint32(offset + 4, Math.floor(micros / 0x100000000), true);
    view.setUint32(offset + 8, micros >>> 0, true);
    view.setUint32(offset + 12, captured, true);
    view.setUint32(offset + 16, data.length, true);
    bytes.set(captured === data.length ? data : data.subarray(0, captured), offset + 20);
    writeOptions(view, bytes, offset + 20 + pad4(captured), options);
  });
}

/** Builds a pcapng stream: chunks are handed to `write` as they are made (or kept, see `bytes()`). */
export class PcapngWriter {
  private readonly interfaces = new Map<string, number>();
  private readonly chunks: Uint8Array[] = [];
  private readonly write: (chunk: Uint8Array) => void;
  readonly snapLength: number;
  /** Total bytes produced. */
  length = 0;

  constructor(options: { application?: string; comment?: string; snapLength?: number; write?: (chunk: Uint8Array) => void } = {}) {
    this.snapLength = options.snapLength ?? 262144;
    this.write = options.write ?? ((chunk) => this.chunks.push(chunk));
    this.emit(sectionHeaderBlock(options.application ?? 'vmswitch', options.comment));
  }

  /** The interface id for `key`, describing it on first use. */
  interfaceId(key: string, name: string, description?: string): number {
    let id = this.interfaces.get(key);
    if (id === undefined) {
      id = this.interfaces.size;
      this.interfaces.set(key, id);
      this.emit(interfaceDescriptionBlock(name, description, this.snapLength));
    }
    return id;
  }

  packet(interfaceId: number, timeMs: number, data: Uint8Array, direction?: PacketDirection): void {
    this.emit(enhancedPacketBlock(interfaceId, timeMs, data, this.snapLength, direction));
  }

  /** Everything written so far, when no `write` callback was given. */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let offset = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  }

  private emit(chunk: Uint8Array): void {
    this.length += chunk.length;
    this.write(chunk);
  }
}
