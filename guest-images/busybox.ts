// Busybox's applet names, read from the binary instead of running it: busybox
// keeps them as one sorted, NUL-separated string that starts with "[" and "[[".

export function busyboxApplets(binary: Uint8Array): string[] {
  const buf = Buffer.from(binary.buffer, binary.byteOffset, binary.byteLength);
  const start = buf.indexOf(Buffer.from('[\0[[\0', 'latin1'));
  if (start < 0) throw new Error('busybox applet table not found in the binary');
  const names: string[] = [];
  for (let at = start; ; ) {
    const end = buf.indexOf(0, at);
    if (end < 0) throw new Error('busybox applet table is not terminated');
    if (end === at) break;
    const name = buf.toString('latin1', at, end);
    if (!/^[\x21-\x7e]+$/.test(name) || name.includes('/')) throw new Error(`unexpected applet name '${name}' in busybox applet table`);
    names.push(name);
    at = end + 1;
  }
  if (names.length < 20) throw new Error(`busybox applet table looks wrong (${names.length} names)`);
  return names;
}
