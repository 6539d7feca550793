import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { chooseEncoding, mimeTypeFor, parseRange, resolveRequestPath, startWebServer, type RunningServer } from './server.ts';
import { allowedHosts, hostName } from './allowed-hosts.ts';

let dir: string;
let server: RunningServer;
// Compressible, and distinct at every offset so a wrong range shows.
const text = Array.from({ length: 4000 }, (_, i) => `line ${i}\n`).join('');
const blob = Uint8Array.from({ length: 10000 }, (_, i) => (i * 7 + (i >> 8)) & 0xff);

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vmswitch-web-'));
  mkdirSync(join(dir, 'site'));
  mkdirSync(join(dir, 'image'));
  writeFileSync(join(dir, 'site', 'index.html'), '<!doctype html><title>lab</title>');
  writeFileSync(join(dir, 'site', 'app.js'), text);
  writeFileSync(join(dir, 'site', 'v86.wasm'), Buffer.concat([Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]), Buffer.alloc(4096)]));
  writeFileSync(join(dir, 'image', 'initramfs.cpio.gz'), blob);
  writeFileSync(join(dir, 'image', 'vmlinuz'), blob);
  writeFileSync(join(dir, 'secret.txt'), 'outside every mount');
  server = await startWebServer({
    mounts: [
      { prefix: '/', dir: join(dir, 'site') },
      { prefix: '/image/', dir: join(dir, 'image') },
    ],
  });
});

after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function get(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: server.host, port: server.port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('binds 127.0.0.1 by default and prints a URL for it', () => {
  assert.equal(server.host, '127.0.0.1');
  assert.equal(server.url, `http://127.0.0.1:${server.port}/`);
});

test('binds the address it is given', async () => {
  const other = await startWebServer({ mounts: [{ prefix: '/', dir }], host: '0.0.0.0' });
  try {
    assert.equal(other.host, '0.0.0.0');
    assert.match(other.url, /^http:\/\/localhost:\d+\/$/);
  } finally {
    await other.close();
  }
});

test('a port in use is an error, not a silent second server', async () => {
  await assert.rejects(startWebServer({ mounts: [{ prefix: '/', dir }], port: server.port }), /EADDRINUSE/);
});

test('MIME types: wasm, html, js, image parts', async () => {
  assert.equal((await get('/v86.wasm')).headers['content-type'], 'application/wasm');
  assert.equal((await get('/')).headers['content-type'], 'text/html; charset=utf-8');
  assert.equal((await get('/app.js')).headers['content-type'], 'text/javascript; charset=utf-8');
  assert.equal((await get('/image/vmlinuz')).headers['content-type'], 'application/octet-stream');
  const initrd = await get('/image/initramfs.cpio.gz', { 'Accept-Encoding': 'gzip' });
  // Served as the bytes on disk: a Content-Encoding here would have the browser unpack it.
  assert.equal(initrd.headers['content-type'], 'application/octet-stream');
  assert.equal(initrd.headers['content-encoding'], undefined);
  assert.deepEqual(new Uint8Array(initrd.body), blob);
  assert.equal(mimeTypeFor('x.css'), 'text/css; charset=utf-8');
  assert.equal(mimeTypeFor('x.unknown'), 'application/octet-stream');
});

test('the index page of a folder, 404 for missing files', async () => {
  const index = await get('/');
  assert.equal(index.status, 200);
  assert.match(index.body.toString(), /<title>lab<\/title>/);
  assert.equal((await get('/nope.js')).status, 404);
  assert.equal((await get('/image/')).status, 404);
});

test('nothing outside the mounts is reachable', async () => {
  for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/image/..%2fsecret.txt', '/image/%2e%2e%2f%2e%2e%2fsecret.txt', '/%00', '/a%5c..%5csecret.txt']) {
    const reply = await get(path);
    assert.ok(reply.status === 403 || reply.status === 404, `${path} -> ${reply.status}`);
    assert.doesNotMatch(reply.body.toString(), /outside every mount/);
  }
  assert.equal(resolveRequestPath([{ prefix: '/', dir: '/srv/x' }], '/a/../../etc/passwd'), null);
  assert.equal(resolveRequestPath([{ prefix: '/', dir: '/srv/x' }], '/%E0%A4%A'), null);
  assert.equal(resolveRequestPath([{ prefix: '/', dir: '/srv/x' }, { prefix: '/image/', dir: '/img' }], '/image/vmlinuz'), '/img/vmlinuz');
});

test('only GET and HEAD', async () => {
  const post = await get('/app.js', {}, 'POST');
  assert.equal(post.status, 405);
  assert.equal(post.headers.allow, 'GET, HEAD');
  const head = await get('/app.js', {}, 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-length'], String(Buffer.byteLength(text)));
  assert.equal(head.body.length, 0);
});

test('gzip and brotli when accepted, the same bytes after decoding', async () => {
  const gz = await get('/app.js', { 'Accept-Encoding': 'gzip' });
  assert.equal(gz.headers['content-encoding'], 'gzip');
  assert.equal(gz.headers.vary, 'Accept-Encoding');
  assert.ok(gz.body.length < Buffer.byteLength(text) / 2);
  assert.equal(gunzipSync(gz.body).toString(), text);

  const br = await get('/app.js', { 'Accept-Encoding': 'gzip, deflate, br' });
  assert.equal(br.headers['content-encoding'], 'br');
  assert.equal(brotliDecompressSync(br.body).toString(), text);
  // Served again from the cache: still right.
  assert.equal(brotliDecompressSync((await get('/app.js', { 'Accept-Encoding': 'br' })).body).toString(), text);

  const wasm = await get('/v86.wasm', { 'Accept-Encoding': 'gzip' });
  assert.equal(wasm.headers['content-encoding'], 'gzip');
  assert.equal(wasm.headers['content-type'], 'application/wasm');

  const plain = await get('/app.js');
  assert.equal(plain.headers['content-encoding'], undefined);
  assert.equal(plain.body.toString(), text);
  const refused = await get('/app.js', { 'Accept-Encoding': 'br;q=0, gzip;q=0' });
  assert.equal(refused.headers['content-encoding'], undefined);
});

test('chooseEncoding honours q-values and wildcards', () => {
  assert.equal(chooseEncoding(undefined), 'identity');
  assert.equal(chooseEncoding('gzip'), 'gzip');
  assert.equal(chooseEncoding('gzip, br'), 'br');
  assert.equal(chooseEncoding('br;q=0, gzip;q=0.5'), 'gzip');
  assert.equal(chooseEncoding('*'), 'br');
  assert.equal(chooseEncoding('*;q=0'), 'identity');
  assert.equal(chooseEncoding('identity'), 'identity');
});

test('range requests: 206 with exactly those bytes, never compressed', async () => {
  const mid = await get('/image/vmlinuz', { Range: 'bytes=100-199', 'Accept-Encoding': 'gzip, br' });
  assert.equal(mid.status, 206);
  assert.equal(mid.headers['content-range'], `bytes 100-199/${blob.length}`);
  assert.equal(mid.headers['content-length'], '100');
  assert.equal(mid.headers['content-encoding'], undefined);
  assert.deepEqual(new Uint8Array(mid.body), blob.subarray(100, 200));

  const open = await get('/image/vmlinuz', { Range: 'bytes=9990-' });
  assert.equal(open.status, 206);
  assert.deepEqual(new Uint8Array(open.body), blob.subarray(9990));

  const suffix = await get('/image/vmlinuz', { Range: 'bytes=-5' });
  assert.equal(suffix.headers['content-range'], `bytes 9995-9999/${blob.length}`);
  assert.deepEqual(new Uint8Array(suffix.body), blob.subarray(9995));

  const past = await get('/image/vmlinuz', { Range: 'bytes=9000-20000' });
  assert.equal(past.headers['content-range'], `bytes 9000-9999/${blob.length}`);

  const text206 = await get('/app.js', { Range: 'bytes=0-9', 'Accept-Encoding': 'gzip' });
  assert.equal(text206.status, 206);
  assert.equal(text206.headers['content-encoding'], undefined);
  assert.equal(text206.body.toString(), text.slice(0, 10));
});

test('unsatisfiable ranges get 416 with the size; malformed ones the whole file', async () => {
  const beyond = await get('/image/vmlinuz', { Range: 'bytes=10000-10010' });
  assert.equal(beyond.status, 416);
  assert.equal(beyond.headers['content-range'], `bytes */${blob.length}`);
  assert.equal((await get('/image/vmlinuz', { Range: 'bytes=-0' })).status, 416);
  const multi = await get('/image/vmlinuz', { Range: 'bytes=0-1,5-6' });
  assert.equal(multi.status, 200);
  assert.equal(multi.body.length, blob.length);
  assert.equal((await get('/image/vmlinuz', { Range: 'lines=1-2' })).status, 200);
  assert.equal(parseRange('bytes=5-2', 10), 'ignore');
  assert.deepEqual(parseRange('bytes=-20', 10), { start: 0, end: 9 });
});

test('ETag revalidation and If-Range', async () => {
  const first = await get('/app.js');
  const etag = first.headers.etag as string;
  assert.ok(etag);
  assert.equal((await get('/app.js', { 'If-None-Match': etag })).status, 304);
  assert.equal((await get('/app.js', { 'If-None-Match': '"other"' })).status, 200);
  assert.equal((await get('/app.js', { Range: 'bytes=0-3', 'If-Range': etag })).status, 206);
  // A stale If-Range validator: the whole (current) file instead of a range of something else.
  assert.equal((await get('/app.js', { Range: 'bytes=0-3', 'If-Range': '"stale"' })).status, 200);
});

test('generated routes answer before the mounts', async () => {
  let calls = 0;
  const other = await startWebServer({
    mounts: [{ prefix: '/', dir: join(dir, 'site') }],
    routes: { '/lab.json': async () => ({ type: 'application/json; charset=utf-8', body: JSON.stringify({ calls: ++calls }) }) },
  });
  try {
    const reply = await new Promise<Reply>((resolve, reject) => {
      const req = request({ host: other.host, port: other.port, path: '/lab.json' }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['content-type'], 'application/json; charset=utf-8');
    assert.deepEqual(JSON.parse(reply.body.toString()), { calls: 1 });
  } finally {
    await other.close();
  }
});

/** A raw request, to send any Host header (or none) as a browser under DNS rebinding would. */
function rawGet(port: number, lines: string[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write([...lines, 'Connection: close', '', ''].join('\r\n')));
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.on('end', () => resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0), body: text.slice(text.indexOf('\r\n\r\n') + 4) }));
    socket.on('error', reject);
  });
}

test('a symlink inside a served folder never serves a file outside the mounts', async () => {
  writeFileSync(join(dir, 'outside-secret'), 'the secret outside');
  mkdirSync(join(dir, 'outside-dir'), { recursive: true });
  writeFileSync(join(dir, 'outside-dir', 'index.html'), 'the secret outside');
  symlinkSync(join(dir, 'outside-secret'), join(dir, 'site', 'leak.txt'));
  symlinkSync(join(dir, 'outside-dir'), join(dir, 'site', 'leakdir'));
  symlinkSync('../outside-secret', join(dir, 'image', 'relative-leak'));
  // Links that stay inside the mounts still work: within a folder, and from one mount to another.
  symlinkSync(join(dir, 'site', 'app.js'), join(dir, 'site', 'alias.js'));
  symlinkSync(join(dir, 'image', 'vmlinuz'), join(dir, 'site', 'kernel-link'));
  for (const path of ['/leak.txt', '/leakdir/', '/leakdir/index.html', '/image/relative-leak']) {
    const reply = await get(path);
    assert.equal(reply.status, 403, path);
    assert.doesNotMatch(reply.body.toString(), /secret outside/, path);
  }
  assert.equal((await get('/alias.js')).body.toString(), text);
  assert.deepEqual(new Uint8Array((await get('/kernel-link')).body), blob);
});

test('only the Host names the server was bound for are answered (DNS rebinding)', async () => {
  const port = server.port;
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, 'LOCALHOST', '[::1]:8086', '127.0.0.1']) {
    assert.equal((await rawGet(port, ['GET /app.js HTTP/1.1', `Host: ${host}`])).status, 200, host);
  }
  for (const host of ['evil.example', `evil.example:${port}`, 'localhost.evil.example', '127.0.0.1.nip.io', '10.1.2.3', '[::2]', 'a:b:c', '']) {
    const reply = await rawGet(port, ['GET /app.js HTTP/1.1', `Host: ${host}`]);
    assert.equal(reply.status, 421, host);
    assert.equal(reply.body.trim().split('\n').length, 1, 'a one-line body');
    assert.doesNotMatch(reply.body, /line 1/, 'not the file');
  }
  assert.match((await rawGet(port, ['GET /app.js HTTP/1.1', 'Host: evil.example'])).body, /^vmswitch web does not answer for host 'evil.example' \(start it with --allow-host evil.example/);
  // HTTP/1.0 without a Host header: not a name we were bound for either. Generated routes are guarded too.
  assert.equal((await rawGet(port, ['GET /app.js HTTP/1.0'])).status, 421);

  let calls = 0;
  const other = await startWebServer({ mounts: [{ prefix: '/', dir: join(dir, 'site') }], allowHosts: ['lab.example'], routes: { '/lab.json': async () => ({ type: 'application/json', body: String(++calls) }) } });
  try {
    assert.equal((await rawGet(other.port, ['GET /app.js HTTP/1.1', 'Host: lab.example'])).status, 200);
    assert.equal((await rawGet(other.port, ['GET /app.js HTTP/1.1', 'Host: Lab.Example:1234'])).status, 200);
    assert.equal((await rawGet(other.port, ['GET /lab.json HTTP/1.1', 'Host: evil.example'])).status, 421);
    assert.equal(calls, 0);
  } finally {
    await other.close();
  }
});

test('bound to every address: the machine\'s own addresses are answered, other names are not', async () => {
  const other = await startWebServer({ mounts: [{ prefix: '/', dir: join(dir, 'site') }], host: '0.0.0.0' });
  try {
    const own = Object.values(networkInterfaces()).flatMap((list) => list ?? []).find((info) => info.family === 'IPv4')!.address;
    assert.equal((await rawGet(other.port, ['GET /app.js HTTP/1.1', `Host: ${own}:${other.port}`])).status, 200);
    assert.equal((await rawGet(other.port, ['GET /app.js HTTP/1.1', 'Host: 203.0.113.9'])).status, 421);
    assert.equal((await rawGet(other.port, ['GET /app.js HTTP/1.1', 'Host: rebind.example'])).status, 421);
  } finally {
    await other.close();
  }
});

test('allowed-hosts: the name part of a Host header', () => {
  assert.equal(hostName('LocalHost:8086'), 'localhost');
  assert.equal(hostName('[::1]:80'), '[::1]');
  assert.equal(hostName('[::1]'), '[::1]');
  assert.equal(hostName('::1'), undefined);
  assert.equal(hostName('a:b'), undefined);
  assert.equal(hostName(''), undefined);
  assert.equal(hostName(undefined), undefined);
  const allowed = allowedHosts('192.168.7.7', ['lab.example']);
  assert.ok(allowed('192.168.7.7:8086') && allowed('lab.example') && allowed('localhost') && allowed('[::1]:1'));
  assert.ok(!allowed('192.168.7.8') && !allowed('example') && !allowed(undefined));
});

test('template snapshots (.vmsnap) are compressed when the client accepts it, once per file version', async () => {
  // Guest RAM: mostly zero pages with some data.
  const snapshot = new Uint8Array(2 << 20);
  for (let i = 0; i < snapshot.length; i += 4096) snapshot.set(blob.subarray(0, 512), i);
  const snapDir = join(dir, 'snapshots');
  mkdirSync(snapDir);
  const file = join(snapDir, '128m-e1000-0123.vmsnap');
  writeFileSync(file, snapshot);
  // Whole seconds: a time set again later is exactly the same.
  const mtime = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
  utimesSync(file, mtime, mtime);
  const other = await startWebServer({ mounts: [{ prefix: '/snapshots/', dir: snapDir }] });
  const fetchSnap = (headers: Record<string, string>) =>
    new Promise<Reply>((resolve, reject) => {
      const req = request({ host: other.host, port: other.port, path: '/snapshots/128m-e1000-0123.vmsnap', headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
      req.end();
    });
  try {
    const gz = await fetchSnap({ 'Accept-Encoding': 'gzip' });
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.equal(gz.headers['content-type'], 'application/octet-stream');
    assert.ok(gz.body.length < snapshot.length / 4, `${gz.body.length} bytes`);
    assert.ok(Buffer.from(gunzipSync(gz.body)).equals(snapshot), 'gzip body');
    const plain = await fetchSnap({});
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.ok(plain.body.equals(snapshot), 'identity body');

    // Cached by size and mtime: new bytes under the same size and mtime are not compressed again...
    const changed = snapshot.slice();
    changed[100] = 0x42;
    writeFileSync(file, changed);
    utimesSync(file, mtime, mtime);
    assert.ok(gunzipSync((await fetchSnap({ 'Accept-Encoding': 'gzip' })).body).equals(snapshot), 'the cached body, not compressed again');
    // ...and a new mtime is a new version.
    utimesSync(file, mtime, new Date(mtime.getTime() + 5000));
    assert.ok(gunzipSync((await fetchSnap({ 'Accept-Encoding': 'gzip' })).body).equals(changed), 'a new version after a new mtime');
  } finally {
    await other.close();
  }
});

test('every answer is cross-origin isolated (COOP/COEP), so the page can share memory with its VM workers', async () => {
  for (const path of ['/', '/app.js', '/v86.wasm', '/image/vmlinuz', '/nope.js']) {
    const reply = await get(path);
    assert.equal(reply.headers['cross-origin-opener-policy'], 'same-origin', path);
    assert.equal(reply.headers['cross-origin-embedder-policy'], 'require-corp', path);
    assert.equal(reply.headers['cross-origin-resource-policy'], 'same-origin', path);
  }
});
