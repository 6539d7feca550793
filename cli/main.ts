// `vmswitch COMMAND ...`: dispatch to one module per command, loaded lazily so
// that `--help` and argument errors stay instant.
import { UsageError } from './args.ts';

export interface Command {
  summary: string;
  run(argv: string[]): Promise<number>;
}

const COMMANDS: Record<string, () => Promise<Command>> = {
  boot: async () => (await import('./commands/boot.ts')).command,
  image: async () => (await import('./commands/image.ts')).command,
  lab: async () => (await import('./commands/lab.ts')).command,
  demo: async () => (await import('./commands/demo.ts')).command,
  web: async () => (await import('./commands/web.ts')).command,
  graph: async () => (await import('./commands/graph.ts')).command,
};

export function usage(): string {
  return [
    'usage: vmswitch COMMAND [options]',
    '',
    'commands:',
    ...Object.keys(COMMANDS).map((name) => `  ${name}`),
    '',
    "Run 'vmswitch COMMAND --help' for a command's options.",
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  const load = COMMANDS[name];
  if (!load) {
    console.error(`vmswitch: unknown command '${name}' (try 'vmswitch --help')`);
    return 2;
  }
  try {
    return await (await load()).run(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(error.message);
      return 2;
    }
    console.error(`vmswitch ${name}: ${(error as Error).message}`);
    return 1;
  }
}
