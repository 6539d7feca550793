// Bundled in place of node:module for the browser. The v86 adapter resolves
// v86.wasm through createRequire at load time; in a worker the wasm is served
// by `vmswitch web` at /v86/v86.wasm beside the bundle's folder.
export function createRequire(_from: string | URL) {
  return {
    resolve(id: string): string {
      if (id.endsWith('.wasm')) return new URL(`v86/${id.split('/').pop()}`, self.location.href).href;
      throw new Error(`require.resolve('${id}') is not available in the browser`);
    },
  };
}
