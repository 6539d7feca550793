// The `ar` archive a .deb is (debian-binary, control.tar.*, data.tar.*).
// Input comes from a mirror: every size is checked against what is there.

export class ArchiveFormatError extends Error {
  override name = 'ArchiveFormatError';
}

export interface ArMember {
  name: string;
  data: Uint8Array;
}

const MAGIC = '!<arch>\n';
const HEADER = 60;
const latin1 = new TextDecoder('latin1');

/** The members of an ar archive, as views into `bytes`. */
export function parseAr(bytes: Uint8Array, what = 'archive'): ArMember[] {
  const bad = (why: string) => new ArchiveFormatError(`${what} is not a valid ar archive (.deb): ${why}`);
  if (bytes.length < MAGIC.length || latin1.decode(bytes.subarray(0, MAGIC.length)) !== MAGIC) throw bad('no ar magic');
  const members: ArMember[] = [];
  let at = MAGIC.length;
  while (at < bytes.length) {
    // A lone padding byte at the very end is tolerated, as ar itself does.
    if (bytes.length - at === 1 && bytes[at] === 0x0a) break;
    if (bytes.length - at < HEADER) throw bad(`truncated member header at offset ${at}`);
    const header = latin1.decode(bytes.subarray(at, at + HEADER));
    if (header.slice(58, 60) !== '`\n') throw bad(`bad member header at offset ${at}`);
    const name = header.slice(0, 16).trimEnd().replace(/\/$/, '');
    const sizeText = header.slice(48, 58).trim();
    if (!/^\d{1,10}$/.test(sizeText)) throw bad(`bad size '${sizeText}' for member '${name}'`);
    const size = Number(sizeText);
    const start = at + HEADER;
    if (size > bytes.length - start) throw bad(`member '${name}' claims ${size} bytes, ${bytes.length - start} remain (truncated)`);
    if (!name || name.includes('/')) throw bad(`bad member name '${name}'`);
    members.push({ name, data: bytes.subarray(start, start + size) });
    at = start + size + (size & 1);
  }
  return members;
}
