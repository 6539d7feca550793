// A small pcapng reader for the tests, written from the format's spec
// (SHB, IDB, EPB) independently of host/extensions/capture/pcapng.ts, so a
// download is checked by something other than the code that wrote it.

export interface CapturedPacket {
  interfaceId: number;
  data: Uint8Array;
}

export interface CaptureFile {
  interfaces: { linkType: number; name?: string }[];
  packets: CapturedPacket[];
}

export function readPcapng(bytes: Uint8Array): CaptureFile {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 28 || view.getUint32(0, true) !== 0x0a0d0d0a) throw new Error('not a pcapng file (no section header block)');
  const magic = view.getUint32(8, true);
  const little = magic === 0x1a2b3c4d;
  if (!little && view.getUint32(8, false) !== 0x1a2b3c4d) throw new Error('bad byte-order magic');
  const file: CaptureFile = { interfaces: [], packets: [] };
  let at = 0;
  while (at + 12 <= bytes.length) {
    const type = view.getUint32(at, little);
    const length = view.getUint32(at + 4, little);
    if (length < 12 || length % 4 !== 0 || at + length > bytes.length) throw new Error(`bad block length ${length} at ${at}`);
    if (view.getUint32(at + length - 4, little) !== length) throw new Error(`block at ${at}: trailing length differs`);
    if (type === 0x00000001) {
      const iface: { linkType: number; name?: string } = { linkType: view.getUint16(at + 8, little) };
      // Options: code 2 is if_name.
      let option = at + 16;
      while (option + 4 <= at + length - 4) {
        const code = view.getUint16(option, little);
        const size = view.getUint16(option + 2, little);
        if (code === 0) break;
        if (code === 2) iface.name = new TextDecoder().decode(bytes.subarray(option + 4, option + 4 + size));
        option += 4 + Math.ceil(size / 4) * 4;
      }
      file.interfaces.push(iface);
    } else if (type === 0x00000006) {
      const interfaceId = view.getUint32(at + 8, little);
      const captured = view.getUint32(at + 20, little);
      if (28 + captured > length) throw new Error(`packet at ${at} longer than its block`);
      if (interfaceId >= file.interfaces.length) throw new Error(`packet at ${at} names interface ${interfaceId}, which was not described`);
      file.packets.push({ interfaceId, data: bytes.slice(at + 28, at + 28 + captured) });
    }
    at += length;
  }
  return file;
}

/** ICMP echo messages in Ethernet frames (VLAN tags allowed). */
export function icmpEchoes(packets: readonly CapturedPacket[]): { type: 'request' | 'reply'; src: string; dst: string; seq: number }[] {
  const out: { type: 'request' | 'reply'; src: string; dst: string; seq: number }[] = [];
  for (const { data } of packets) {
    let l3 = 14;
    let etherType = (data[12]! << 8) | data[13]!;
    if (etherType === 0x8100) {
      etherType = (data[16]! << 8) | data[17]!;
      l3 = 18;
    }
    if (etherType !== 0x0800 || data[l3 + 9] !== 1) continue;
    const l4 = l3 + (data[l3]! & 0x0f) * 4;
    const type = data[l4];
    if (type !== 0 && type !== 8) continue;
    const ip = (o: number) => `${data[o]}.${data[o + 1]}.${data[o + 2]}.${data[o + 3]}`;
    out.push({ type: type === 8 ? 'request' : 'reply', src: ip(l3 + 12), dst: ip(l3 + 16), seq: (data[l4 + 6]! << 8) | data[l4 + 7]! });
  }
  return out;
}
