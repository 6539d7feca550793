// Decompressing .deb members without native tools: xz through xz-decompress
// (xz-embedded compiled to WebAssembly: checks the stream's CRC, no native
// addon, runs in Node and browsers), gzip through node:zlib. Output is bounded
// so that a hostile member cannot exhaust memory.
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import xzDecompress from 'xz-decompress';
import { ArchiveFormatError } from './ar.ts';
import { readBounded } from './streams.ts';

const gunzipAsync = promisify(gunzip);

/** The largest member we unpack (Debian's biggest i386 kernel package holds ~200 MB). */
export const MAX_UNPACKED_BYTES = 1 << 30;

export async function unxz(data: Uint8Array, what: string, limit = MAX_UNPACKED_BYTES): Promise<Uint8Array> {
  const stream = new xzDecompress.XzReadableStream(
    new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(data);
        controller.close();
      },
    }),
  );
  return readBounded(
    stream,
    limit,
    () => new ArchiveFormatError(`${what}: unpacks to more than ${limit} bytes`),
    (error) => new ArchiveFormatError(`${what}: corrupt or truncated xz data (${(error as Error).message})`),
  );
}

export async function gunzipBounded(data: Uint8Array, what: string, limit = MAX_UNPACKED_BYTES): Promise<Uint8Array> {
  try {
    return await gunzipAsync(data, { maxOutputLength: limit });
  } catch (error) {
    throw new ArchiveFormatError(`${what}: corrupt, truncated or oversized gzip data (${(error as Error).message})`);
  }
}

/** A member by its suffix: .xz, .gz or none. zstd (Ubuntu's choice) and bzip2 are refused by name. */
export async function decompressMember(name: string, data: Uint8Array, what: string): Promise<Uint8Array> {
  if (name.endsWith('.xz')) return unxz(data, what);
  if (name.endsWith('.gz')) return gunzipBounded(data, what);
  if (name.endsWith('.tar')) return data;
  throw new ArchiveFormatError(`${what}: member '${name}' uses a compression this builder does not read (xz, gzip or none; Debian bookworm uses xz)`);
}
