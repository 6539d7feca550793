// A scripted ThreadHandle for unit tests of VmThread: the test plays the VM's
// thread (sends its messages, sees what the switch's side posted, ends it).
import type { ToVm } from './protocol.ts';
import type { ThreadHandle } from './vm-thread.ts';

export class FakeThread implements ThreadHandle {
  readonly posted: ToVm[] = [];
  terminated = false;
  private messageListener: ((data: unknown) => void) | undefined;
  private exitListener: ((reason: string) => void) | undefined;

  post(message: ToVm): void {
    if (this.terminated) return;
    this.posted.push(message);
  }
  onMessage(listener: (data: unknown) => void): void {
    this.messageListener = listener;
  }
  onExit(listener: (reason: string) => void): void {
    this.exitListener = listener;
  }
  terminate(): void {
    this.terminated = true;
  }
  /** The VM's thread sends a message. */
  send(data: unknown): void {
    this.messageListener?.(data);
  }
  /** The VM's thread dies. */
  exit(reason: string): void {
    this.exitListener?.(reason);
  }
}

export const OFFLOADS = { csum: false, gso: [], maxFrameSize: 1518 };
export const STARTED = {
  type: 'started',
  threadId: 7,
  memoryMiB: 128,
  start: { kind: 'template', ms: 10 },
  nics: [{ model: 'e1000', mac: '02:00:00:00:00:01', driverReady: true, rxOffloads: OFFLOADS }],
};
