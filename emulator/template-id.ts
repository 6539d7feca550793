// The guest image's identity as template snapshots are keyed by it
// (template-cache.ts templatePath): the runtime that makes and restores
// templates and the lab server that offers them must agree on it exactly, or
// nothing is offered. Web Crypto, so the browser could compute it too.
import type { Manifest } from '../guest-images/index.ts';

/** SHA-256 (hex) of the image's recipe and file hashes. */
export async function imageId(manifest: Pick<Manifest, 'recipeHash' | 'files'>): Promise<string> {
  const identity = new TextEncoder().encode(JSON.stringify({ recipe: manifest.recipeHash, files: manifest.files }));
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', identity));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, '0')).join('');
}
