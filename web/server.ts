// The static server behind `vmswitch web`: the page bundle, v86's wasm, the
// guest image and the template snapshots, over node:http only.
// - MIME types by extension (application/wasm matters: streaming compile needs it);
// - gzip or brotli when the client accepts it and the type compresses well,
//   never for range requests (byte offsets refer to the file itself);
// - single byte ranges (206, 416); ETag/If-None-Match (304);
// - GET and HEAD only; nothing outside the mounted folders is reachable, not
//   through `..` and not through a symlink (the real path must be inside a mount);
// - only the Host names the server was bound for (allowed-hosts.ts: DNS rebinding);
// - cross-origin isolation on every answer (COOP same-origin, COEP
//   require-corp): the page may then share memory with its VM workers (the
//   frame rings of emulator/worker/ring.ts); everything it loads is from this
//   server, so nothing is blocked. Without isolation it falls back to transferables.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { constants as zlibConstants, createBrotliCompress, createGzip } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { allowedHosts, hostName } from './allowed-hosts.ts';

/** Sent with every answer, so that a page from this server is `crossOriginIsolated` (SharedArrayBuffer). */
export const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
} as const;

/** A URL prefix served from a folder, e.g. { prefix: '/image/', dir: BUILD_DIR }. */
export interface Mount {
  prefix: string;
  dir: string;
}

export interface WebServerOptions {
  mounts: Mount[];
  /** Default 127.0.0.1: the lab is local unless told otherwise. */
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** One line per request that failed (default: nothing). */
  log?: (line: string) => void;
  /** Generated answers by exact path (e.g. '/lab.json'), checked before the mounts. */
  routes?: Record<string, () => Promise<{ type: string; body: string }>>;
  /** Host names answered besides localhost, the loopback addresses and the bound address (`--allow-host`). */
  allowHosts?: string[];
  /** WebSocket upgrades (`web --shared`: shared-switch-server.ts), given the same Host check as every request; without it they are refused. */
  upgrade?: (request: IncomingMessage, socket: Duplex, head: Buffer, hostAllowed: (header: string | undefined) => boolean) => void;
}

export interface RunningServer {
  server: Server;
  url: string;
  host: string;
  port: number;
  close(): Promise<void>;
}

export const DEFAULT_HOST = '127.0.0.1';

const MIME_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.pcapng': 'application/x-pcapng',
  // Guest image parts and snapshots are opaque bytes; a .gz is served as is
  // (Content-Encoding would make the browser unpack the initramfs for v86).
  '.gz': 'application/octet-stream',
  '.bin': 'application/octet-stream',
  '.vmsnap': 'application/octet-stream',
  '.state': 'application/octet-stream',
};

/**
 * Types worth compressing: text, wasm, and snapshots (format 3 templates
 * are deflated already, ~20 MB for 128 MiB; older files were not).
 */
function compressible(path: string, type: string): boolean {
  if (type.startsWith('text/') || type.startsWith('application/json') || type === 'image/svg+xml') return true;
  if (type === 'application/wasm') return true;
  // vmlinuz and initramfs.cpio.gz are compressed already.
  const ext = extname(path).toLowerCase();
  return ext === '.vmsnap' || ext === '.bin' || ext === '.state';
}

export function mimeTypeFor(path: string): string {
  return MIME_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

export type Encoding = 'br' | 'gzip' | 'identity';

/** The best encoding the client accepts (br before gzip), honouring q=0. */
export function chooseEncoding(acceptEncoding: string | undefined): Encoding {
  if (!acceptEncoding) return 'identity';
  const accepted = new Map<string, number>();
  for (const part of acceptEncoding.split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    if (!name) continue;
    let q = 1;
    for (const param of params) {
      const match = /^\s*q=([0-9.]+)\s*$/.exec(param);
      if (match) q = Number(match[1]);
    }
    accepted.set(name, q);
  }
  const wildcard = accepted.get('*');
  const quality = (name: string) => accepted.get(name) ?? wildcard ?? 0;
  if (quality('br') > 0) return 'br';
  if (quality('gzip') > 0) return 'gzip';
  return 'identity';
}

export type ByteRange = { start: number; end: number } | 'unsatisfiable' | 'ignore';

/**
 * A single `bytes=` range against a file of `size` bytes (end inclusive).
 * Multiple ranges and malformed headers are ignored (the whole file is sent),
 * as RFC 9110 allows.
 */
export function parseRange(header: string | undefined, size: number): ByteRange {
  if (header === undefined) return 'ignore';
  const match = /^bytes=\s*(\d*)\s*-\s*(\d*)\s*$/.exec(header.trim());
  if (!match) return 'ignore';
  const [, first, last] = match;
  if (first === '' && last === '') return 'ignore';
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (last !== '' && Number(last) < start) return 'ignore';
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

/**
 * The file a URL path names inside one of the mounts, or null (never outside a
 * mount). By name only: insideMounts checks where a symlink leads.
 */
export function resolveRequestPath(mounts: readonly Mount[], urlPath: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return null;
  // Longest prefix first, so '/image/' wins over '/'.
  const sorted = [...mounts].sort((a, b) => b.prefix.length - a.prefix.length);
  for (const mount of sorted) {
    if (!decoded.startsWith(mount.prefix)) continue;
    const rest = decoded.slice(mount.prefix.length);
    if (rest.split('/').some((segment) => segment === '..')) return null;
    const root = resolve(mount.dir);
    const full = resolve(root, '.' + sep + rest);
    if (full !== root && !full.startsWith(root + sep)) return null;
    return full;
  }
  return null;
}

/**
 * The real path of `path` (symlinks followed) when it lies inside one of the
 * mounts' real folders, else null: a link in a served folder must not serve
 * /etc/passwd. Mount folders are resolved per request (they may appear late:
 * the template folder is made in the background).
 */
export async function insideMounts(mounts: readonly Mount[], path: string): Promise<string | null> {
  const real = await realpath(path).catch(() => null);
  if (real === null) return null;
  for (const mount of mounts) {
    const root = await realpath(mount.dir).catch(() => null);
    if (root !== null && (real === root || real.startsWith(root.endsWith(sep) ? root : root + sep))) return real;
  }
  return null;
}

interface CachedBody {
  key: string;
  body: Buffer;
}

/**
 * Compressed bodies of recently served files, so a reloaded page (or the next
 * VM's snapshot fetch) does not compress 50 MB again. Bounded by total bytes.
 */
class CompressedCache {
  private readonly entries = new Map<string, CachedBody>();
  private total = 0;
  constructor(private readonly limitBytes: number) {}

  get(key: string): Buffer | undefined {
    const hit = this.entries.get(key);
    if (!hit) return undefined;
    this.entries.delete(key);
    this.entries.set(key, hit);
    return hit.body;
  }

  set(key: string, body: Buffer): void {
    if (body.length > this.limitBytes) return;
    this.entries.set(key, { key, body });
    this.total += body.length;
    for (const [oldKey, entry] of this.entries) {
      if (this.total <= this.limitBytes) break;
      this.entries.delete(oldKey);
      this.total -= entry.body.length;
    }
  }
}

function compressor(encoding: 'br' | 'gzip', size: number) {
  if (encoding === 'gzip') return createGzip({ level: size > 4 << 20 ? 4 : 6 });
  // Brotli's higher qualities are far too slow for tens of megabytes: a 60 MB
  // (format 2) snapshot took 4.8 s at quality 4 and 0.3 s at quality 1, for 6% more bytes.
  return createBrotliCompress({
    params: {
      [zlibConstants.BROTLI_PARAM_QUALITY]: size > 4 << 20 ? 1 : 9,
      [zlibConstants.BROTLI_PARAM_SIZE_HINT]: size,
    },
  });
}

async function compressFile(path: string, encoding: 'br' | 'gzip', size: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline(createReadStream(path), compressor(encoding, size), async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) chunks.push(chunk);
  });
  return Buffer.concat(chunks);
}

export interface HandlerOptions extends Pick<WebServerOptions, 'mounts' | 'log' | 'routes'> {
  /** Whether a request's Host header names this server (allowed-hosts.ts). */
  hostAllowed: (header: string | undefined) => boolean;
}

export function createStaticHandler(options: HandlerOptions) {
  const mounts = options.mounts;
  const routes = options.routes ?? {};
  const log = options.log ?? (() => {});
  const cache = new CompressedCache(256 << 20);
  const pending = new Map<string, Promise<Buffer>>();

  function fail(res: ServerResponse, status: number, message: string): void {
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(message) + 1 });
    res.end(message + '\n');
  }

  return async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      for (const [name, value] of Object.entries(ISOLATION_HEADERS)) res.setHeader(name, value);
      if (!options.hostAllowed(req.headers.host)) {
        const name = (hostName(req.headers.host) ?? req.headers.host ?? '').slice(0, 100).replace(/[^\x20-\x7e]/g, '?');
        return fail(res, 421, `vmswitch web does not answer for host '${name}' (start it with --allow-host ${name || 'NAME'} to allow it)`);
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('Allow', 'GET, HEAD');
        return fail(res, 405, 'method not allowed');
      }
      const url = new URL(req.url ?? '/', 'http://localhost');
      const route = Object.hasOwn(routes, url.pathname) ? routes[url.pathname] : undefined;
      if (route) {
        const { type, body } = await route();
        res.writeHead(200, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
        return void res.end(req.method === 'HEAD' ? undefined : body);
      }
      let path = resolveRequestPath(mounts, url.pathname);
      if (path === null) return fail(res, url.pathname.includes('..') ? 403 : 404, 'not found');
      let info = await stat(path).catch(() => null);
      if (info?.isDirectory()) {
        path = join(path, 'index.html');
        info = await stat(path).catch(() => null);
      }
      if (!info || !info.isFile()) return fail(res, 404, 'not found');
      // Served from the real path from here on: a link swapped after this check is not followed again.
      const real = await insideMounts(mounts, path);
      if (real === null) return fail(res, 403, 'forbidden');
      path = real;

      const type = mimeTypeFor(path);
      const etag = `"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
      const canCompress = compressible(path, type);
      res.setHeader('Content-Type', type);
      res.setHeader('Accept-Ranges', 'bytes');
      res.setHeader('ETag', etag);
      res.setHeader('Last-Modified', info.mtime.toUTCString());
      res.setHeader('Cache-Control', 'no-cache');
      if (canCompress) res.setHeader('Vary', 'Accept-Encoding');

      const ifNoneMatch = req.headers['if-none-match'];
      if (ifNoneMatch && ifNoneMatch.split(',').some((tag) => tag.trim() === etag || tag.trim() === '*')) {
        res.writeHead(304);
        return void res.end();
      }

      const ifRange = req.headers['if-range'];
      const range = ifRange !== undefined && ifRange !== etag ? 'ignore' : parseRange(req.headers.range, info.size);
      if (range === 'unsatisfiable') {
        res.writeHead(416, { 'Content-Range': `bytes */${info.size}`, 'Content-Type': 'text/plain; charset=utf-8' });
        return void res.end();
      }
      if (range !== 'ignore') {
        res.writeHead(206, { 'Content-Range': `bytes ${range.start}-${range.end}/${info.size}`, 'Content-Length': range.end - range.start + 1 });
        if (req.method === 'HEAD') return void res.end();
        await pipeline(createReadStream(path, { start: range.start, end: range.end }), res);
        return;
      }

      const encoding = canCompress && info.size > 256 ? chooseEncoding(req.headers['accept-encoding']) : 'identity';
      if (encoding === 'identity') {
        res.writeHead(200, { 'Content-Length': info.size });
        if (req.method === 'HEAD') return void res.end();
        await pipeline(createReadStream(path), res);
        return;
      }
      const key = `${encoding}:${path}:${etag}`;
      let body = cache.get(key);
      if (!body) {
        let job = pending.get(key);
        if (!job) {
          job = compressFile(path, encoding, info.size).finally(() => pending.delete(key));
          pending.set(key, job);
        }
        body = await job;
        cache.set(key, body);
      }
      res.writeHead(200, { 'Content-Encoding': encoding, 'Content-Length': body.length });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // The client went away mid-transfer: nothing to answer.
      if (code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET' || code === 'EPIPE') return;
      log(`web: ${req.method} ${req.url}: ${(error as Error).message}`);
      if (!res.headersSent) fail(res, 500, 'internal error');
      else res.destroy();
    }
  };
}

/** Starts listening; resolves with the URL once bound (rejects on EADDRINUSE and the like). */
export async function startWebServer(options: WebServerOptions): Promise<RunningServer> {
  const host = options.host ?? DEFAULT_HOST;
  let hostAllowed: (header: string | undefined) => boolean = () => false;
  const handler = createStaticHandler({ ...options, hostAllowed: (header) => hostAllowed(header) });
  const server = createServer((req, res) => void handler(req, res));
  const upgrade = options.upgrade;
  if (upgrade) server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => upgrade(req, socket, head, (header) => hostAllowed(header)));
  await new Promise<void>((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolvePromise();
    });
  });
  const address = server.address() as AddressInfo;
  // Known only now: 'localhost' binds to one of the loopback addresses.
  hostAllowed = allowedHosts(address.address, options.allowHosts);
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const shownHost = address.address === '0.0.0.0' || address.address === '::' ? 'localhost' : urlHost;
  return {
    server,
    host: address.address,
    port: address.port,
    url: `http://${shownHost}:${address.port}/`,
    close: () =>
      new Promise<void>((resolvePromise) => {
        server.closeAllConnections();
        server.close(() => resolvePromise());
      }),
  };
}
