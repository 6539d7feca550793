// Where the builder's Debian packages come from: the machine's apt (a private
// apt state, dpkg-deb unpacking into the cache) or a Debian mirror read
// directly (mirror.ts, for machines without apt). Both resolve the same names
// to the same candidate versions and hand over the same files.
import type { PackageInfo } from './apt.ts';
import type { FileTree } from './tree.ts';

export interface FetchedPackage {
  /** The verified .deb in the download cache. */
  debPath: string;
  files: FileTree;
}

export interface PackageSource {
  /** Shown in progress lines and errors, e.g. "apt" or the mirror URL. */
  readonly label: string;
  /** Loads (or refreshes) the package lists. */
  refresh(force: boolean): Promise<void>;
  /** Candidate versions (the highest of any suite); unknown and purely virtual names are absent. */
  show(names: readonly string[]): Promise<Map<string, PackageInfo>>;
  /** Every real package name in the recursive Depends/Pre-Depends of `names`. */
  dependsClosure(names: readonly string[]): Promise<string[]>;
  /** Verified, unpacked packages by name; throws when any cannot be had. */
  fetch(packages: readonly PackageInfo[]): Promise<Map<string, FetchedPackage>>;
}

export class MissingPackageError extends Error {
  override name = 'MissingPackageError';
}
