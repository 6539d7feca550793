// Reading a web stream (an HTTP body, a decompressor's output) into memory with
// a byte bound, so that a hostile mirror cannot make the builder hold unlimited data.

/**
 * The stream's bytes, at most `limit`: past it `tooLarge()` is thrown; a
 * failure of the stream itself is thrown as `failed(error)`. The stream is
 * cancelled either way.
 */
export async function readBounded(stream: ReadableStream<Uint8Array>, limit: number, tooLarge: () => Error, failed: (error: unknown) => Error): Promise<Uint8Array> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  let over = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > limit) {
        over = true;
        throw tooLarge();
      }
      chunks.push(value);
    }
  } catch (error) {
    await reader.cancel().catch(() => {});
    throw over ? error : failed(error);
  }
  return Buffer.concat(chunks, total);
}
