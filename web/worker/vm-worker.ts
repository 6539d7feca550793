// A VM's Web Worker (the browser host of a VM thread): the same protocol and
// serveVm as a Node VM thread (emulator/worker/node-vm-thread.ts), serving a
// VM built from HTTP-fetched images (emulator/worker/browser-vm.ts).
import './browser-globals.ts';
import type { FromVm } from '../../emulator/worker/protocol.ts';
import { serveVm, type Endpoint } from '../../emulator/worker/serve-vm.ts';
import { startBrowserVm } from '../../emulator/worker/browser-vm.ts';
import type { BrowserVmOptions } from '../../emulator/worker/browser-options.ts';

interface WorkerScope {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  addEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
  close(): void;
}
const scope = self as unknown as WorkerScope;

const endpoint: Endpoint = {
  // A Web Worker has no thread id of its own.
  threadId: 0,
  post: (message: FromVm, transfer: Transferable[] = []) => scope.postMessage(message, transfer),
  onMessage: (listener) => scope.addEventListener('message', (event) => listener(event.data)),
  close: () => scope.close(),
};

serveVm(endpoint, (options, wasm, log) => startBrowserVm(options as BrowserVmOptions, wasm, log));
