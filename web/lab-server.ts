// The lab's server as `vmswitch web`, the e2e tests and the web benchmark
// start it: bundle and image built when missing or stale, then served with
// v86's wasm and the template snapshots, plus /lab.json telling the page
// where everything is (and, with a lab file, the file the page runs).
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type { Manifest } from '../guest-images/index.ts';
import { startWebServer, type Mount, type RunningServer } from './server.ts';
import { ensureBundle } from './build.ts';
import { IMAGE_URLS } from '../emulator/worker/browser-options.ts';
import { createSharedSwitchServer, type SharedSwitchServer } from './shared-switch-server.ts';
import { SHARED_SWITCH_PATH, SHARED_SWITCH_PROTOCOL } from '../host/uplink/websocket-protocol.ts';
import { ensureTemplates, listSnapshots, SNAPSHOT_URL_PREFIX, snapshotDir } from './snapshots.ts';

export interface LabServerOptions {
  port?: number;
  host?: string;
  /** Host names answered besides localhost and the bound address (server.ts). */
  allowHosts?: string[];
  log?: (line: string) => void;
  /** Rebuild the bundle even when it looks current. */
  rebuild?: boolean;
  /**
   * Template snapshots for the lab's one-NIC VMs when missing: made before
   * serving ('wait', for tests), after the server is up ('background', the
   * CLI: VMs boot cold until they exist), or never ('none').
   */
  templates?: 'wait' | 'background' | 'none';
  /** Host a shared switch that every page joins over WebSocket (`web --shared`; shared-switch-server.ts). */
  shared?: boolean;
  /**
   * A lab file the page runs instead of its one-switch lab, already read and
   * validated (readWebLabFile): sent as text in /lab.json, the page parses it
   * with the same parser.
   */
  labFile?: WebLabFile;
}

/** A lab file for the page: its name (for the parser's messages) and text. */
export interface WebLabFile {
  name: string;
  text: string;
}

export interface LabServer extends RunningServer {
  /** With `shared`: the shared switch and its WebSocket door. */
  shared?: SharedSwitchServer;
}

const require = createRequire(import.meta.url);

export async function prepareLab(log: (line: string) => void, rebuild = false): Promise<{ pageDir: string; imageDir: string; manifest: Manifest }> {
  const pageDir = await ensureBundle(log, rebuild);
  const { ensureImage } = await import('../guest-images/index.ts');
  const image = await ensureImage({ log });
  return { pageDir, imageDir: image.dir, manifest: image.manifest };
}

export async function startLabServer(options: LabServerOptions = {}): Promise<LabServer> {
  const log = options.log ?? (() => {});
  const { pageDir, imageDir, manifest } = await prepareLab(log, options.rebuild);
  const templates = options.templates ?? 'none';
  if (templates === 'wait') await ensureTemplates(log);
  const mounts: Mount[] = [
    { prefix: '/', dir: pageDir },
    { prefix: '/v86/', dir: dirname(require.resolve('v86/build/v86.wasm')) },
    { prefix: '/image/', dir: imageDir },
    { prefix: SNAPSHOT_URL_PREFIX, dir: await snapshotDir() },
  ];
  const shared = options.shared ? createSharedSwitchServer({ log }) : undefined;
  const server = await startWebServer({
    mounts,
    ...(options.host !== undefined ? { host: options.host } : {}),
    ...(options.port !== undefined ? { port: options.port } : {}),
    ...(options.allowHosts !== undefined ? { allowHosts: options.allowHosts } : {}),
    log,
    ...(shared ? { upgrade: shared.upgrade } : {}),
    routes: {
      ...(shared
        ? {
            '/shared.json': async () => ({
              type: 'application/json; charset=utf-8',
              body: JSON.stringify({ ...shared.shared.status(), refused: shared.refused }),
            }),
          }
        : {}),
      '/lab.json': async () => ({
        type: 'application/json; charset=utf-8',
        body: JSON.stringify({
          image: IMAGE_URLS,
          snapshots: await listSnapshots(manifest),
          memoryMiB: 128,
          ...(shared ? { shared: { path: SHARED_SWITCH_PATH, protocol: SHARED_SWITCH_PROTOCOL } } : {}),
          ...(options.labFile ? { labFile: options.labFile } : {}),
        }),
      }),
    },
  });
  if (templates === 'background') {
    ensureTemplates(log).catch((error: Error) => log(`template snapshots could not be made (VMs boot cold): ${error.message}`));
  }
  if (!shared) return server;
  return {
    ...server,
    shared,
    async close() {
      await shared.close();
      await server.close();
    },
  };
}

