// Where the builder keeps its download cache and writes the image.
// Both live in the user's cache directory: clean clones and CI runs on the
// same machine reuse the downloaded packages, and an installed package never
// writes into its own folder (it may be read-only, and is replaced on upgrade).
import { homedir } from 'node:os';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The folder holding this builder's code (guest-images/ in a checkout, dist/guest-images/ in the package). */
export const SOURCE_DIR = fileURLToPath(new URL('.', import.meta.url));

/** '.ts' when running from source (tsx), '.js' when running the compiled package. */
export const CODE_EXT = extname(fileURLToPath(import.meta.url));

/**
 * Whether a file name is code of the running build that does work at run time:
 * what a cache key over "the code" hashes. Tests, fuzzers, their helpers
 * (testing.ts) and declaration files run nothing.
 */
export function isRuntimeCode(name: string): boolean {
  const stem = name.slice(0, -CODE_EXT.length);
  return name.endsWith(CODE_EXT) && !name.endsWith('.d.ts') && !stem.endsWith('.test') && !stem.endsWith('.fuzz') && stem !== 'testing';
}

export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME && env.XDG_CACHE_HOME.startsWith('/') ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
  return join(base, 'vmswitch');
}

/** Output folder of the image build. */
export const BUILD_DIR = join(cacheDir(), 'image');
