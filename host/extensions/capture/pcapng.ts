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
/** An option's length is a u16. */
const MAX_OPTION_BYTES = 0xffff;
export const DEFAULT_SNAP_LENGTH = 262144;

/**
 * Text for an option (interface name, description, comment): UTF-8, cut to
 * what the u16 length holds, at a character boundary so that readers still
 * see valid UTF-8. A port name is the caller's, any length.
 */
export function optionText(text: string): Uint8Array {
  const bytes = encoder.encode(text);
  if (bytes.length <= MAX_OPTION_BYTES) return bytes;
  let end = MAX_OPTION_BYTES;
  // Back up over continuation bytes (10xxxxxx) to the start of the character cut in two.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

/** The IDB's SnapLen is a u32 and 0 there means "no limit", which our writer would not honour: 1..2^32-1. */
function checkSnapLength(snapLength: number): number {
  if (!Number.isInteger(snapLength) || snapLength < 1 || snapLength > 0xffffffff) {
    throw new RangeError(`pcapng snapLength must be an integer from 1 to ${0xffffffff}, not ${snapLength}`);
  }
  return snapLength;
}

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
  const options: [number, Uint8Array][] = [[OPT_SHB_USERAPPL, optionText(application)]];
  if (comment) options.push([OPT_COMMENT, optionText(comment)]);
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
  checkSnapLength(snapLength);
  const options: [number, Uint8Array][] = [[OPT_IF_NAME, optionText(name)]];
  if (description) options.push([OPT_IF_DESCRIPTION, optionText(description)]);
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
  checkSnapLength(snapLength);
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

/**
 * Builds a pcapng stream. Blocks are written into one reusable buffer (no
 * allocation per packet) and handed to `write` when it fills up and on
 * flush(); without `write` they are kept for bytes().
 */
export class PcapngWriter {
  private readonly interfaces = new Map<string, number>();
  private readonly chunks: Uint8Array[] = [];
  private readonly write: ((chunk: Uint8Array) => void) | null;
  readonly snapLength: number;
  private buffer = new Uint8Array(1 << 16);
  private view = new DataView(this.buffer.buffer);
  private position = 0;
  /** Total bytes produced (flushed or not). */
  length = 0;

  constructor(options: { application?: string; comment?: string; snapLength?: number; write?: (chunk: Uint8Array) => void } = {}) {
    this.snapLength = checkSnapLength(options.snapLength ?? DEFAULT_SNAP_LENGTH);
    this.write = options.write ?? null;
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

  /** One Enhanced Packet Block; `timeMs` in milliseconds (kept to the microsecond). */
  packet(interfaceId: number, timeMs: number, data: Uint8Array, direction?: PacketDirection): void {
    const captured = Math.min(data.length, this.snapLength);
    const total = 32 + pad4(captured) + (direction ? 12 : 0);
    if (this.position + total > this.buffer.length) {
      this.flush();
      if (total > this.buffer.length) {
        this.emit(enhancedPacketBlock(interfaceId, timeMs, data, this.snapLength, direction));
        return;
      }
    }
    const view = this.view;
    const o = this.position;
    const micros = Math.max(0, Math.round(timeMs * 1000));
    view.setUint32(o, BLOCK_EPB, true);
    view.setUint32(o + 4, total, true);
    view.setUint32(o + 8, interfaceId, true);
    view.setUint32(o + 12, Math.floor(micros / 0x100000000), true);
    view.setUint32(o + 16, micros >>> 0, true);
    view.setUint32(o + 20, captured, true);
    view.setUint32(o + 24, data.length, true);
    this.buffer.set(captured === data.length ? data : data.subarray(0, captured), o + 28);
    let p = o + 28 + captured;
    while (p & 3) this.buffer[p++] = 0;
    if (direction) {
      view.setUint16(p, OPT_EPB_FLAGS, true);
      view.setUint16(p + 2, 4, true);
      view.setUint32(p + 4, direction === 'inbound' ? 1 : 2, true);
      view.setUint32(p + 8, 0, true); // opt_endofopt
      p += 12;
    }
    view.setUint32(p, total, true);
    this.position = p + 4;
    this.length += total;
  }

  /** Hands buffered blocks to `write` (or to the kept chunks). */
  flush(): void {
    if (this.position === 0) return;
    const chunk = this.buffer.slice(0, this.position);
    this.position = 0;
    if (this.write) this.write(chunk);
    else this.chunks.push(chunk);
  }

  /** Everything written so far, when no `write` callback was given. */
  bytes(): Uint8Array {
    this.flush();
    const out = new Uint8Array(this.chunks.reduce((n, c) => n + c.length, 0));
    let offset = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  }

  private emit(block: Uint8Array): void {
    this.flush();
    this.length += block.length;
    if (this.write) this.write(block);
    else this.chunks.push(block);
  }
}
