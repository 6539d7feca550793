// This terminal on a guest's serial console, for `vmswitch boot` and
// `vmswitch lab --console`: raw keys in, guest output out, until Ctrl-], the
// end of piped input (once the guest has gone quiet), or the caller's own end.

const CTRL_RIGHT_BRACKET = 0x1d;

export interface AttachableConsole {
  onData(listener: (bytes: Uint8Array) => void): () => void;
  write(input: string | Uint8Array): void;
}

export interface ConsoleAttachOptions {
  /** The stderr line before ("...; press Ctrl-] to quit"); "console closed" follows at the end. */
  banner: string;
  /** Print the banner and the closing line only on a terminal (not when input is piped). */
  bannerOnTtyOnly?: boolean;
  /** Another reason to end (the VM stopping, a signal): subscribes `finish`, returns the unsubscribe. */
  endWhen?: (finish: () => void) => () => void;
}

export async function attachConsole(guestConsole: AttachableConsole, options: ConsoleAttachOptions): Promise<void> {
  const stdin = process.stdin;
  const isTty = stdin.isTTY === true;
  const announce = isTty || !options.bannerOnTtyOnly;
  if (announce) process.stderr.write(`${options.banner}\r\n`);
  let lastOutput = Date.now();
  const offOutput = guestConsole.onData((bytes) => {
    lastOutput = Date.now();
    process.stdout.write(bytes);
  });
  if (isTty) stdin.setRawMode(true);
  try {
    await new Promise<void>((resolve) => {
      let poll: NodeJS.Timeout | undefined;
      let offEnd = (): void => undefined;
      const finish = (): void => {
        clearInterval(poll);
        offEnd();
        stdin.off('data', onData);
        stdin.off('end', onEnd);
        resolve();
      };
      const onData = (chunk: Buffer): void => {
        const quit = isTty ? chunk.indexOf(CTRL_RIGHT_BRACKET) : -1;
        if (quit >= 0) {
          if (quit > 0) guestConsole.write(chunk.subarray(0, quit));
          finish();
          return;
        }
        guestConsole.write(chunk);
      };
      const onEnd = (): void => {
        // Piped input: let the guest finish answering (1 s of quiet, at most 60 s).
        const began = Date.now();
        poll = setInterval(() => {
          if (Date.now() - lastOutput > 1000 || Date.now() - began > 60_000) finish();
        }, 100);
      };
      stdin.on('data', onData);
      stdin.on('end', onEnd);
      if (options.endWhen) offEnd = options.endWhen(finish);
      stdin.resume();
      guestConsole.write('\n'); // a fresh prompt
    });
  } finally {
    if (isTty) stdin.setRawMode(false);
    stdin.pause();
    offOutput();
    if (announce) process.stderr.write('\r\nvmswitch: console closed\n');
  }
}
