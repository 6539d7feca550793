// A VM's own thread in Node (node:worker_threads; Node-only): the runtime's
// VirtualMachine, served over parentPort with the VM-thread protocol.
import { parentPort, threadId } from 'node:worker_threads';
import { VirtualMachine } from '../vm.ts';
import type { FromVm } from './protocol.ts';
import { serveVm, type Endpoint } from './serve-vm.ts';

if (!parentPort) throw new Error('node-vm-thread.ts runs in a worker thread (see node-launch.ts)');
const port = parentPort;

const endpoint: Endpoint = {
  threadId,
  post: (message: FromVm, transfer: Transferable[] = []) => port.postMessage(message, transfer as never),
  onMessage: (listener) => port.on('message', listener),
  close: () => port.close(),
};

serveVm(endpoint, (options, wasm, log) =>
  VirtualMachine.start({
    ...options,
    nics: options.nics.map((nic) => ({ model: nic.model, ...(nic.mac ? { mac: nic.mac } : {}) })),
    ...(wasm ? { wasmModule: wasm } : {}),
    log,
  }),
);
