// Where the builder keeps its download cache and writes the image.
// The cache lives in the user's cache directory so that clean clones and CI
// runs on the same machine reuse the downloaded packages.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The folder holding this builder's sources (guest-images/). */
export const SOURCE_DIR = fileURLToPath(new URL('.', import.meta.url));

/** Output folder (git-ignored). */
export const BUILD_DIR = join(SOURCE_DIR, 'build');

export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME && env.XDG_CACHE_HOME.startsWith('/') ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
  return join(base, 'vmswitch');
}
