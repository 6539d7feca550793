// The entry of a VM thread run from TypeScript source: worker threads do not
// inherit tsx's register() from the main thread, so register it here, then
// load the thread's module (workerData.entry). Compiled JS needs none of this:
// node-launch.ts then starts node-vm-thread.js directly.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
