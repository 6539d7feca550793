// Fuzz targets for the snapshot reader: a snapshot is a file anyone can hand
// us. Whatever the bytes, decodeSnapshot either rejects with SnapshotFormatError
// or returns exactly what was written: never another exception, never a header
// out of bounds, never a silently different restore, never a state longer
// than the header declared (a compression bomb).
import { isDeepStrictEqual } from 'node:util';
import { deflateRawSync, deflateSync, inflateSync } from 'node:zlib';
import type { FuzzTarget, Rng } from '../scripts/fuzz/harness.ts';
import { ALL_NIC_MODELS } from './net/nic.ts';
import {
  decodeSnapshot,
  decodeSnapshotHeader,
  encodeContainer,
  encodeSnapshot,
  MAX_MEMORY_MIB,
  MAX_NICS,
  MIN_MEMORY_MIB,
  SNAPSHOT_COMPRESSION,
  SNAPSHOT_FORMAT,
  SnapshotFormatError,
  type DecodedSnapshot,
  type SnapshotContent,
  type SnapshotHeader,
} from './snapshot.ts';

function randomMac(rng: Rng): string {
  return Array.from(rng.bytes(6), (byte) => byte.toString(16).padStart(2, '0')).join(':');
}

/** A JSON value of any shape, bounded in depth and size. */
function randomJson(rng: Rng, depth = 0): unknown {
  switch (rng.int(depth > 3 ? 5 : 8)) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.pick([0, -1, 1, 0.5, 1e9, -1e308, 2 ** 53, rng.edgy(), 128, 2048, 80]);
    case 3:
      return rng.pick(['', 'e1000', 'virtio', '02:00:00:00:00:01', '\u0000', 'x'.repeat(rng.int(400)), randomMac(rng)]);
    case 4:
      return rng.int(1000);
    case 5:
      return Array.from({ length: rng.int(5) }, () => randomJson(rng, depth + 1));
    default: {
      const out: Record<string, unknown> = {};
      for (let i = rng.int(5); i > 0; i--) out[rng.pick(['a', 'state', 'model', 'mac', '__proto__', 'constructor', 'format'])] = randomJson(rng, depth + 1);
      return out;
    }
  }
}

function randomContent(rng: Rng): SnapshotContent {
  return {
    memoryMiB: rng.range(MIN_MEMORY_MIB, MAX_MEMORY_MIB),
    nics: Array.from({ length: rng.int(4) }, () => ({ model: rng.pick(ALL_NIC_MODELS), mac: randomMac(rng), state: randomJson(rng) })),
    image: rng.chance(0.5) ? { kernelVersion: '6.1.0-50-686', recipeHash: 'r'.repeat(rng.int(64)) } : { kernelVersion: '6.1.0-50-686' },
    createdAt: new Date(rng.int(2 ** 31) * 1000).toISOString(),
  };
}

/** What the writer made, read back exactly (JSON drops what JSON cannot hold: compare through it). */
function assertRoundTrip(decoded: DecodedSnapshot, content: SnapshotContent, state: Uint8Array): void {
  const { storedLength, ...rest } = decoded.header;
  const expected = JSON.parse(JSON.stringify({ ...content, format: SNAPSHOT_FORMAT, stateLength: state.length, compression: SNAPSHOT_COMPRESSION })) as unknown;
  if (!isDeepStrictEqual(rest, expected) || !Number.isInteger(storedLength)) throw new Error(`header changed in the round trip: ${JSON.stringify(decoded.header).slice(0, 200)}`);
  if (!isDeepStrictEqual(new Uint8Array(decoded.v86State), new Uint8Array(state))) throw new Error('v86 state changed in the round trip');
}

/** Runs `decode`; a SnapshotFormatError is the accepted failure, anything else thrown is a finding. */
async function tryDecode<T>(decode: () => T | Promise<T>): Promise<T | SnapshotFormatError> {
  try {
    return await decode();
  } catch (error) {
    if (error instanceof SnapshotFormatError) return error;
    throw new Error(`not a SnapshotFormatError: ${(error as Error)?.stack ?? String(error)}`);
  }
}

/** A state like v86's: runs of zeros (left-out pages, zeroed memory) between data of mixed entropy. */
function randomState(rng: Rng, max: number): Uint8Array {
  const out = new Uint8Array(rng.int(max));
  for (let at = 0; at < out.length; ) {
    const run = Math.min(out.length - at, rng.range(1, 512));
    if (rng.chance(0.4)) out.set(rng.bytes(run), at);
    else if (rng.chance(0.3)) out.fill(rng.int(256), at, at + run);
    at += run;
  }
  return out;
}

/** A body a hostile writer could put behind a right checksum: streams of the wrong length, cut, mutated, bombs, noise. */
function hostileBody(rng: Rng, state: Uint8Array): Uint8Array {
  switch (rng.int(7)) {
    case 0:
      return deflateSync(state);
    case 1:
      // Another length than declared, shorter or longer.
      return deflateSync(state.subarray(0, rng.int(state.length + 1)));
    case 2: {
      const longer = new Uint8Array(state.length + rng.range(1, 5000));
      longer.set(state);
      return deflateSync(longer);
    }
    case 3:
      // A bomb: far more zeros than declared, in a small body.
      return deflateSync(new Uint8Array(rng.range(1, 8) << 20), { level: 9 });
    case 4: {
      const good = deflateSync(state);
      return rng.chance(0.5) ? good.subarray(0, rng.int(good.length)) : mutate(rng, good);
    }
    case 5:
      // Raw deflate and gzip are not what the header says.
      return deflateRawSync(state);
    default:
      return rng.bytes(rng.int(200));
  }
}

function mutate(rng: Rng, good: Uint8Array): Uint8Array {
  switch (rng.int(6)) {
    case 0:
      return good.slice(0, rng.int(good.length));
    case 1: {
      const out = good.slice();
      for (let n = rng.range(1, 8); n > 0; n--) {
        const bit = rng.int(out.length * 8);
        out[bit >> 3]! ^= 1 << (bit & 7);
      }
      return out;
    }
    case 2: {
      // Flips where they hurt most: the head, the JSON's first bytes, the checksum.
      const out = good.slice();
      const at = rng.chance(0.5) ? rng.int(Math.min(out.length, 64)) : out.length - 1 - rng.int(Math.min(out.length, 8));
      out[at]! ^= 1 << rng.int(8);
      return out;
    }
    case 3: {
      const out = good.slice();
      const at = rng.int(out.length);
      out.set(rng.bytes(Math.min(rng.range(1, 16), out.length - at)), at);
      return out;
    }
    case 4: {
      // A run of bytes removed from the middle.
      const at = rng.int(good.length);
      const rest = good.subarray(Math.min(good.length, at + rng.range(1, 16)));
      const out = new Uint8Array(at + rest.length);
      out.set(good.subarray(0, at));
      out.set(rest, at);
      return out;
    }
    default: {
      const extra = rng.bytes(rng.range(1, 16));
      const out = new Uint8Array(good.length + extra.length);
      const at = rng.int(good.length + 1);
      out.set(good.subarray(0, at));
      out.set(extra, at);
      out.set(good.subarray(at), at + extra.length);
      return out;
    }
  }
}

/** The bounds and types every accepted header has, whatever the file said. */
function assertSane(header: SnapshotHeader, v86State: Uint8Array | undefined): void {
  const fail = (what: string): never => {
    throw new Error(`accepted a header with ${what}: ${JSON.stringify(header).slice(0, 200)}`);
  };
  if (header.format !== SNAPSHOT_FORMAT) fail('the wrong format');
  if (!Number.isInteger(header.memoryMiB) || header.memoryMiB < MIN_MEMORY_MIB || header.memoryMiB > MAX_MEMORY_MIB) fail('memory out of bounds');
  if (!Number.isInteger(header.stateLength) || header.stateLength < 0) fail('a bad state length');
  if (header.compression !== SNAPSHOT_COMPRESSION || !Number.isInteger(header.storedLength) || header.storedLength < 0) fail('a bad compression or stored length');
  if (v86State && v86State.length !== header.stateLength) fail('a state length that is not the state');
  if (typeof header.image?.kernelVersion !== 'string' || typeof header.createdAt !== 'string') fail('a missing text field');
  if (!Array.isArray(header.nics) || header.nics.length > MAX_NICS) fail('a bad NIC list');
  for (const nic of header.nics) {
    if (!ALL_NIC_MODELS.includes(nic.model) || typeof nic.mac !== 'string' || !('state' in nic)) fail('a bad NIC');
  }
}

export const targets: FuzzTarget[] = [
  {
    name: 'snapshot.mutations',
    quick: 3000,
    async run(rng) {
      const content = randomContent(rng);
      const state = randomState(rng, 8192);
      const good = await encodeSnapshot(content, state);
      assertRoundTrip(await decodeSnapshot(good), content, state);
      const mutant = mutate(rng, good);
      const result = await tryDecode(() => decodeSnapshot(mutant));
      const unchanged = mutant.length === good.length && mutant.every((byte, i) => byte === good[i]);
      if (unchanged) {
        if (result instanceof SnapshotFormatError) throw new Error(`the unchanged snapshot was refused: ${result.message}`);
        assertRoundTrip(result, content, state);
      } else if (!(result instanceof SnapshotFormatError)) {
        throw new Error(`a changed snapshot (${good.length} -> ${mutant.length} bytes) was accepted`);
      }
      // The listing's head-only read: the typed error or a sane header, never anything else.
      const head = await tryDecode(() => decodeSnapshotHeader(mutant));
      if (!(head instanceof SnapshotFormatError)) assertSane(head, undefined);
    },
  },
  {
    name: 'snapshot.headers',
    quick: 6000,
    async run(rng) {
      // Well-formed files (checksum right) around hostile headers: a valid one with a field or two replaced, or noise.
      const state = rng.bytes(rng.int(64));
      const body = deflateSync(state);
      let header: unknown;
      if (rng.chance(0.8)) {
        const fields: Record<string, unknown> = { ...randomContent(rng), format: SNAPSHOT_FORMAT, stateLength: state.length, compression: SNAPSHOT_COMPRESSION, storedLength: body.length };
        for (let n = rng.range(0, 3); n > 0; n--) {
          const key = rng.pick(['format', 'memoryMiB', 'nics', 'image', 'createdAt', 'stateLength', 'compression', 'storedLength', 'extra']);
          fields[key] = key === 'nics' && rng.chance(0.5) ? Array.from({ length: rng.int(40) }, () => (rng.chance(0.7) ? { model: rng.pick([...ALL_NIC_MODELS, 'ne2k']), mac: rng.chance(0.8) ? randomMac(rng) : randomJson(rng), state: randomJson(rng) } : randomJson(rng))) : randomJson(rng);
        }
        header = fields;
      } else {
        header = randomJson(rng);
      }
      const result = await tryDecode(() => decodeSnapshot(encodeContainer(header, body)));
      if (result instanceof SnapshotFormatError) return;
      assertSane(result.header, result.v86State);
      // What was accepted is written and read back the same.
      const { format: _format, stateLength: _length, compression: _compression, storedLength: _stored, ...content } = result.header;
      assertRoundTrip(await decodeSnapshot(await encodeSnapshot(content, result.v86State)), content, result.v86State);
    },
  },
  {
    name: 'snapshot.streams',
    quick: 1500,
    async run(rng) {
      // A right header and checksum around a hostile compressed state: accepted only when it inflates to exactly
      // the declared length (then to what any zlib reader makes of it), refused with the typed error otherwise.
      const declared = randomState(rng, 4096);
      const body = hostileBody(rng, declared);
      const header = { ...randomContent(rng), format: SNAPSHOT_FORMAT, stateLength: declared.length, compression: SNAPSHOT_COMPRESSION, storedLength: body.length };
      const result = await tryDecode(() => decodeSnapshot(encodeContainer(header, body)));
      if (result instanceof SnapshotFormatError) return;
      assertSane(result.header, result.v86State);
      let reference: Uint8Array;
      try {
        reference = inflateSync(body);
      } catch (error) {
        throw new Error(`accepted a body zlib refuses (${(error as Error).message})`);
      }
      if (result.v86State.length !== declared.length) throw new Error(`accepted ${result.v86State.length} bytes of state where the header says ${declared.length}`);
      if (!isDeepStrictEqual(new Uint8Array(result.v86State), new Uint8Array(reference))) throw new Error('the state is not what the stream holds');
    },
  },
];
