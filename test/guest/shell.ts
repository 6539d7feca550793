// Shell helpers shared by the guest tests: run a command that must succeed,
// poll until output matches, and move 16 MiB over TCP between two guests.
import assert from 'node:assert/strict';
import type { VirtualMachine } from '../../emulator/vm.ts';
import type { Lab } from '../../host/lab/index.ts';

/**
 * `sh` (exit status and output) and `ok` (output; a non-zero exit fails the
 * test) by VM name over a Lab's exec. `lab` is a getter because test files
 * make their lab in `before`.
 */
export function labShell(lab: () => Lab) {
  const sh = (vm: string, command: string, timeoutMs = 60_000): Promise<{ output: string; exitCode: number }> => lab().exec(vm, command, { timeoutMs });
  const ok = async (vm: string, command: string, timeoutMs = 60_000): Promise<string> => {
    const result = await sh(vm, command, timeoutMs);
    assert.equal(result.exitCode, 0, `${vm}$ ${command}\n${result.output}`);
    return result.output;
  };
  return { sh, ok };
}

/** Runs `command` in the guest and returns its output; a non-zero exit fails the test. */
export async function sh(vm: VirtualMachine, command: string, timeoutMs = 60_000): Promise<string> {
  const result = await vm.exec(command, { timeoutMs });
  assert.equal(result.exitCode, 0, `${command}\n${result.output}`);
  return result.output;
}

/** Re-runs `command` once a second until its output matches `pattern`. */
export async function waitFor(vm: VirtualMachine, command: string, pattern: RegExp, timeoutMs = 120_000): Promise<string> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const { output } = await vm.exec(command);
    if (pattern.test(output)) return output;
    if (Date.now() > end) throw new Error(`${command}: no ${pattern} within ${timeoutMs} ms; last output:\n${output}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** 16 MiB of random data from one guest to another over TCP (busybox nc); returns both sha256 sums. */
export async function transfer(from: VirtualMachine, to: VirtualMachine, toAddress: string, port: number, sendTimeoutMs: number): Promise<[string, string]> {
  // exec gives commands /dev/null as stdin and busybox nc closes the connection at its stdin's EOF:
  // the receiver runs a program on the socket (-e) instead of using nc's stdin/stdout.
  await sh(to, "rm -f /tmp/rx.sum; printf '#!/bin/sh\\nsha256sum > /tmp/rx.part && mv /tmp/rx.part /tmp/rx.sum\\n' > /tmp/rx.sh; chmod +x /tmp/rx.sh");
  await sh(to, `(nc -l -p ${port} -e /tmp/rx.sh) >/dev/null 2>&1 &`);
  await sh(from, 'dd if=/dev/urandom of=/tmp/tx.bin bs=1M count=16 2>/dev/null');
  const sent = (await sh(from, 'sha256sum < /tmp/tx.bin')).split(/\s/)[0]!;
  await sh(from, `nc -w 3 ${toAddress} ${port} < /tmp/tx.bin`, sendTimeoutMs);
  const received = (await waitFor(to, 'cat /tmp/rx.sum 2>/dev/null || true', /^[0-9a-f]{64}/, 60_000)).split(/\s/)[0]!;
  return [sent, received];
}
