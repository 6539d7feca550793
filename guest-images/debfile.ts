// A .deb unpacked in memory: the ar container, then data.tar.{xz,gz}. Used
// where apt and dpkg-deb are absent (macOS, Windows, other Linux), and never
// written to disk, so the kernel package's names that differ only in case
// stay distinct.
import { ArchiveFormatError, parseAr } from './ar.ts';
import { parseTar, tarToTree } from './tar.ts';
import type { MemoryTree } from './tree.ts';
import { decompressMember } from './xz.ts';

export async function unpackDeb(bytes: Uint8Array, what: string): Promise<MemoryTree> {
  const members = parseAr(bytes, what);
  const bad = (why: string) => new ArchiveFormatError(`${what} is not a valid .deb: ${why}`);
  const version = members[0];
  if (version?.name !== 'debian-binary' || !/^2\.\d+\n/.test(new TextDecoder().decode(version.data))) throw bad('the first member is not debian-binary 2.x');
  const data = members.find((m) => m.name.startsWith('data.tar'));
  if (!data) throw bad('no data.tar member');
  const tar = await decompressMember(data.name, data.data, `${what} ${data.name}`);
  return tarToTree(parseTar(tar, `${what} ${data.name}`), `${what} ${data.name}`);
}
