// `npm start` = `vmswitch demo`: a (e1000) and b (virtio-net) on one switch,
// the seed's start lifecycle as it happens, ping both ways, the counters, the
// stop lifecycle, and where to go next.
import type { Command } from '../main.ts';
import { parseCommandArgs } from '../args.ts';

const HELP = `usage: vmswitch demo [--cold]

Two VMs on one extensible switch: 'a' with an emulated Intel e1000 and 'b'
with a synthetic virtio-net adapter. Shows the OID lifecycle of their start,
pings a -> b and b -> a, prints the per-port counters, stops both (the stop
lifecycle) and exits 0 when both pings got through.

  --cold      cold-boot both VMs instead of starting from template snapshots
  -h, --help  show this help`;

export const command: Command = {
  summary: 'the demo: two VMs on one switch, ping both ways',
  async run(argv) {
    const { values } = parseCommandArgs('demo', argv, { cold: { type: 'boolean' } });
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    return demo(values.cold === true);
  },
};

async function demo(cold: boolean): Promise<number> {
  const { Lab, formatOidLine, formatPortTable, makeStyle } = await import('../../host/lab/index.ts');
  const s = makeStyle(process.stdout.isTTY === true && !process.env.NO_COLOR);
  const spinner = new Spinner(process.stderr.isTTY === true);
  const say = (line = ''): void => {
    spinner.clear();
    console.log(line);
  };

  const lab = new Lab({ template: !cold });
  const began = Date.now();
  lab.on('oid', (event) => say(`  ${formatOidLine(event, began, s)}`));
  lab.on('progress', (event) => {
    spinner.clear();
    process.stderr.write(s.dim(`  ${event.vm ? `${event.vm}: ` : ''}${event.message}\n`));
    if (/template/.test(event.message)) process.stderr.write(s.dim('  (only the first time: later starts restore the snapshot in seconds)\n'));
  });

  say(s.bold('vmswitch demo: two Linux VMs on one Hyper-V-style extensible switch'));
  say(`  a  Intel 82540EM (e1000), an ${s.cyan('emulated')} adapter   10.0.0.1/24`);
  say(`  b  virtio-net, a ${s.cyan('synthetic')} adapter            10.0.0.2/24`);
  say(`  switch '${lab.switch.name}': ${lab.switch.extensions().map((e) => `${e.name} (${e.kind})`).join(' -> ')}`);
  say();
  say(s.dim('  time       OID            port/NIC         VM NIC           status'));

  let ok = true;
  try {
    for (const [name, model] of [['a', 'e1000'], ['b', 'virtio']] as const) {
      say(s.bold(`Starting ${name} (${model}): PORT_CREATE, NIC_CREATE, and NIC_CONNECT once its driver is bound`));
      spinner.start(`starting ${name}`);
      const vm = await lab.start(name, { nics: [model] }).finally(() => spinner.stop());
      const guest = vm.guest as { startInfo?: { kind: string; ms: number } } | undefined;
      if (guest?.startInfo) say(s.dim(`  ${name} is up (${describeStart(guest.startInfo.kind)} in ${(guest.startInfo.ms / 1000).toFixed(1)} s)`));
    }
    for (const [from, to] of [['a', 'b'], ['b', 'a']] as const) {
      say();
      say(s.bold(`${from}$ ping -c 3 ${to}`));
      const result = await lab.exec(from, `ping -c 3 ${to}`);
      say(result.output.trimEnd().replace(/^(?=.)/gm, '  '));
      if (result.exitCode !== 0) {
        ok = false;
        say(s.red(`  ping ${from} -> ${to} failed (exit status ${result.exitCode})`));
      }
    }
    say();
    say(s.bold('Per-port counters') + s.dim(' (rx: from the VM into the switch, tx: from the switch to the VM)'));
    say(formatPortTable(lab.ports(), s).replace(/^(?=.)/gm, '  '));
    say();
    say(s.bold('Stopping a and b: NIC_DISCONNECT, drain, NIC_DELETE, PORT_TEARDOWN, PORT_DELETE'));
    await lab.stop('a');
    await lab.stop('b');
  } catch (error) {
    spinner.stop();
    ok = false;
    say(s.red(`demo failed: ${(error as Error).message}`));
  } finally {
    spinner.stop();
    await lab.close();
  }
  say();
  say(ok ? s.green('Both VMs reached each other through the switch.') : s.red('The demo did not complete (see above).'));
  say('Next:');
  say(`  ${s.cyan('npx vmswitch web')}                 the same lab in your browser (consoles, switch panel, capture)`);
  say(`  ${s.cyan('npx vmswitch lab --vm a:e1000 --vm b:virtio --console a')}`);
  say('                                   a shell in VM a on the switch (Ctrl-] quits); --help for steps');
  return ok ? 0 : 1;
}

function describeStart(kind: string): string {
  switch (kind) {
    case 'template':
      return 'restored from its template snapshot';
    case 'template-created':
      return 'cold boot, template snapshot saved';
    case 'snapshot':
      return 'restored from a snapshot';
    default:
      return 'cold boot';
  }
}

/** A one-line "still working" indicator on a terminal; nothing when output is not a TTY. */
class Spinner {
  private timer: NodeJS.Timeout | undefined;
  private shown = false;

  constructor(private readonly enabled: boolean) {}

  start(label: string): void {
    if (!this.enabled) return;
    this.stop();
    const began = Date.now();
    const frames = ['|', '/', '-', '\\'];
    let i = 0;
    this.timer = setInterval(() => {
      const seconds = Math.floor((Date.now() - began) / 1000);
      process.stderr.write(`\r  ${frames[i++ % frames.length]} ${label} ... ${seconds} s`);
      this.shown = true;
    }, 250);
    this.timer.unref();
  }

  /** Erases the line (the next tick draws it again below whatever was printed). */
  clear(): void {
    if (this.shown) process.stderr.write('\r\x1b[2K');
    this.shown = false;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.clear();
  }
}
