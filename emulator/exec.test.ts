// The exec protocol against a scripted stand-in for the guest's shell: it
// echoes every line back (as a terminal does), prints markers the way printf
// would, and can hang until Ctrl-C.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SerialConsole, type SerialPort } from './console.ts';
import { ExecTimeoutError, ShellSession, escapeForDollarQuote } from './exec.ts';

/** What the shell makes of $'...' with \NNN escapes. */
function unescapeDollarQuote(text: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; ) {
    if (text[i] === '\\') {
      bytes.push(parseInt(text.slice(i + 1, i + 4), 8));
      i += 4;
    } else {
      bytes.push(text.charCodeAt(i));
      i += 1;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

type Behaviour = { output: string; code: number } | 'hang' | 'deaf';

class FakeShell implements SerialPort {
  private listeners = new Set<(bytes: Uint8Array) => void>();
  private line = '';
  private variable = '';
  private hanging: string | undefined;
  commands: string[] = [];
  deaf = false;
  /** Everything handed to the listeners so far (CR LF as sent). */
  delivered = '';

  constructor(private readonly behave: (command: string) => Behaviour) {}

  onSerialOutput(listener: (bytes: Uint8Array) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private print(text: string): void {
    const bytes = Buffer.from(text.replace(/\n/g, '\r\n'), 'utf8');
    // Output arrives in small pieces, as from a UART.
    setImmediate(() => {
      for (let at = 0; at < bytes.length; at += 7) for (const l of this.listeners) l(bytes.subarray(at, at + 7));
      this.delivered += bytes.toString('utf8');
    });
  }

  sendSerial(bytes: Uint8Array): void {
    for (const ch of Buffer.from(bytes).toString('latin1')) {
      if (ch === '\x03' || ch === '\x1c') {
        if (this.hanging !== undefined && !this.deaf) {
          this.print(`^C\n\n__VMSX${this.hanging}E 130\n# `);
          this.hanging = undefined;
        }
        continue;
      }
      if (ch !== '\n') {
        this.line += ch;
        continue;
      }
      const line = this.line;
      this.line = '';
      if (this.hanging !== undefined || this.deaf) continue; // typed ahead, read later (or never)
      this.print(line + '\n');
      this.run(line);
    }
  }

  private run(line: string): void {
    let m: RegExpMatchArray | null;
    if ((m = line.match(/^ printf '%s%s\\n' __VMS X(\w+)S$/))) return this.print(`__VMSX${m[1]}S\n# `);
    if ((m = line.match(/^ __vmsc=(?:"\$__vmsc")?\$'([^']*)'; printf '%s%s\\n' __VMS X(\w+)$/))) {
      const piece = unescapeDollarQuote(m[1]!);
      this.variable = line.includes('"$__vmsc"') ? this.variable + piece : piece;
      return this.print(`__VMSX${m[2]}\n# `);
    }
    m = line.match(/^ (?:__vmsc=\$'([^']*)'; )?printf '%s%s\\n' __VMS X(\w+)B; \( eval "\$__vmsc" \) <\/dev\/null; printf '\\n%s%s %d\\n' __VMS X\2E \$\?$/);
    assert.ok(m, `unexpected line ${JSON.stringify(line)}`);
    if (m[1] !== undefined) this.variable = unescapeDollarQuote(m[1]);
    const nonce = m[2]!;
    const command = this.variable;
    this.commands.push(command);
    const behaviour = this.behave(command);
    this.print(`__VMSX${nonce}B\n`);
    if (behaviour === 'hang' || behaviour === 'deaf') {
      this.hanging = nonce;
      this.deaf = behaviour === 'deaf';
      this.print('partial ');
      return;
    }
    this.print(`${behaviour.output}\n__VMSX${nonce}E ${behaviour.code}\n# `);
  }
}

/** `recoveryMs` matters only to a shell that never recovers; the others answer at once, whatever the margin. */
function session(behave: (command: string) => Behaviour, recoveryMs = 30_000) {
  const shell = new FakeShell(behave);
  return { shell, session: new ShellSession(new SerialConsole(shell), { recoveryMs }) };
}

/** Lets the fake shell's output (delivered on setImmediate) arrive until `text` has come, within `turns` turns. */
async function outputArrived(shell: FakeShell, text: string, turns = 1000): Promise<void> {
  for (let i = 0; i < turns && !shell.delivered.includes(text); i++) await new Promise<void>((resolve) => setImmediate(resolve));
  assert.ok(shell.delivered.includes(text), `the shell printed ${JSON.stringify(text)}`);
}

test("escapeForDollarQuote keeps safe characters and octal-escapes the rest (UTF-8)", () => {
  assert.equal(escapeForDollarQuote('ls -l /tmp'), 'ls -l /tmp');
  assert.equal(escapeForDollarQuote(`a'b\\`), 'a\\047b\\134');
  for (const text of [`echo "$HOME" 'q' \\n; x=$((1+2))\n\ttab`, 'grüße ✓', '']) assert.equal(unescapeDollarQuote(escapeForDollarQuote(text)), text);
});

test('output and exit code come from between the markers, not from the echo', async () => {
  const { session: s, shell } = session((command) => ({ output: `ran ${command}`, code: command.length % 256 }));
  const command = `echo "__VMS" X; printf '%s' __VMSX0E 0`;
  assert.deepEqual(await s.exec(command), { output: `ran ${command}`, exitCode: command.length });
  assert.deepEqual(shell.commands, [command]);
});

test('empty output, output without a final newline, and CR LF are handled', async () => {
  const outputs: Record<string, { output: string; code: number }> = {
    empty: { output: '', code: 0 },
    bare: { output: 'no newline', code: 1 },
    lines: { output: 'a\nb\n', code: 2 },
  };
  const { session: s } = session((command) => outputs[command]!);
  assert.deepEqual(await s.exec('empty'), { output: '', exitCode: 0 });
  assert.deepEqual(await s.exec('bare'), { output: 'no newline', exitCode: 1 });
  assert.deepEqual(await s.exec('lines'), { output: 'a\nb\n', exitCode: 2 });
});

test('a long command is sent in acknowledged pieces and arrives whole', async () => {
  const { session: s, shell } = session(() => ({ output: 'ok', code: 0 }));
  const long = `echo '${'y'.repeat(1500)}' "${'\\'.repeat(400)}"`;
  assert.deepEqual(await s.exec(long), { output: 'ok', exitCode: 0 });
  assert.equal(shell.commands[0], long);
});

test('concurrent calls are serialised', async () => {
  const { session: s, shell } = session((command) => ({ output: command.toUpperCase(), code: 0 }));
  const results = await Promise.all(['a', 'b', 'c'].map((c) => s.exec(c)));
  assert.deepEqual(results.map((r) => r.output), ['A', 'B', 'C']);
  assert.deepEqual(shell.commands, ['a', 'b', 'c']);
});

test('a timeout interrupts the command, reports partial output, and the session works after', async (t) => {
  // The session's timers on the fake clock (the shell answers on setImmediate, still real): the timeout fires
  // when the test says, after the partial output is in, and no recovery wait can run out on a loaded machine.
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { session: s, shell } = session((command) => (command === 'sleep' ? 'hang' : { output: 'fine', code: 0 }));
  const failed = assert.rejects(s.exec('sleep', { timeoutMs: 50 }), (error: unknown) => {
    assert.ok(error instanceof ExecTimeoutError);
    assert.match(error.message, /timed out after 50 ms.*usable/);
    assert.equal(error.partialOutput, 'partial ');
    return true;
  });
  await outputArrived(shell, 'partial ');
  t.mock.timers.tick(50);
  await failed;
  assert.deepEqual(await s.exec('next'), { output: 'fine', exitCode: 0 });
});

test('a shell that ignores Ctrl-C gives an error that says so', async () => {
  // Short real timeouts: here every wait is meant to run out, so load can only make it slower, not wrong.
  const { session: s } = session(() => 'deaf', 20);
  await assert.rejects(s.exec('stuck', { timeoutMs: 20 }), /did not recover/);
});

test('close() fails the pending call', async () => {
  const { session: s } = session(() => 'hang');
  const pending = s.exec('forever', { timeoutMs: 60_000 });
  setTimeout(() => s.close(), 20);
  await assert.rejects(pending, /stopped/);
});

test('non-ASCII output split across chunks comes back as the same UTF-8 text', async () => {
  const { session: shell } = session(() => ({ output: 'grüße ✓ €\nnaïve', code: 0 }));
  assert.deepEqual(await shell.exec('x'), { output: 'grüße ✓ €\nnaïve', exitCode: 0 });
});
