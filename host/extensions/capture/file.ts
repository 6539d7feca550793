// Node-only helper: a capture extension that appends to a pcapng file.
// (Everything else in host/ stays free of Node APIs for the browser worker.)
import { closeSync, openSync, writeSync } from 'node:fs';
import type { CaptureOptions } from './capture.ts';
import { PcapngCapture } from './capture.ts';

export interface FileCapture {
  capture: PcapngCapture;
  /** Writes what is buffered to the file now (writes are synchronous). */
  flush(): void;
  /** Flushes and closes the file. */
  close(): void;
}

export function captureToFile(path: string, options: Omit<CaptureOptions, 'write'> = {}): FileCapture {
  const fd = openSync(path, 'w');
  let open = true;
  const capture = new PcapngCapture({
    ...options,
    write: (chunk) => {
      if (open) writeSync(fd, chunk);
    },
  });
  return {
    capture,
    flush() {
      capture.flush();
    },
    close() {
      if (!open) return;
      capture.flush();
      open = false;
      closeSync(fd);
    },
  };
}
