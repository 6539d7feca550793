// The browser VM's console before 'started': kept, replayed once to the first
// listener (serveVm, which posts it to the page), bounded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EarlyConsole } from './browser-vm.ts';

const text = (chunks: Uint8Array[]) => chunks.map((c) => new TextDecoder().decode(c)).join('');
const bytes = (s: string) => new TextEncoder().encode(s);

test('output from before the first listener is replayed to it, once; later listeners get only what follows', () => {
  const console = new EarlyConsole(() => {});
  console.deliver(bytes('Linux version '));
  console.deliver(bytes('6.1\n'));
  const first: Uint8Array[] = [];
  console.onData((b) => first.push(b));
  assert.equal(text(first), 'Linux version 6.1\n');
  const second: Uint8Array[] = [];
  console.onData((b) => second.push(b));
  console.deliver(bytes('a:~# '));
  assert.equal(text(first), 'Linux version 6.1\na:~# ');
  assert.equal(text(second), 'a:~# ');
});

test('the kept output is bounded: a guest that floods its console before anyone listens cannot grow it without limit', () => {
  const console = new EarlyConsole(() => {});
  const chunk = new Uint8Array(64 * 1024).fill(0x41);
  for (let i = 0; i < 64; i++) console.deliver(chunk);
  let kept = 0;
  console.onData((b) => (kept += b.length));
  assert.ok(kept > 0 && kept <= 256 * 1024, `kept ${kept} bytes`);
});

test('writes go to the guest', () => {
  const written: (string | Uint8Array)[] = [];
  const console = new EarlyConsole((input) => written.push(input));
  console.write('ls\n');
  assert.deepEqual(written, ['ls\n']);
});
