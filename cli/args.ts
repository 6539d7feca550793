// Argument parsing shared by every command: strict, with a one-line error and
// exit status 2 for anything unknown or malformed.
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {
  override name = 'UsageError';
}

type Options = NonNullable<ParseArgsConfig['options']>;
type HelpOption = { help: { type: 'boolean'; short: 'h' } };
/** Spelled out so that the package's declaration files can name it. */
type ParsedCommandArgs<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O & HelpOption; strict: true; allowPositionals: boolean }>>;

export function parseCommandArgs<O extends Options>(command: string, argv: string[], options: O, allowPositionals = false): ParsedCommandArgs<O> {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals });
  } catch (error) {
    const message = (error as Error).message.split('\n')[0];
    throw new UsageError(`vmswitch ${command}: ${message}`);
  }
}

/** A positive integer option, or a UsageError naming it. */
export function positiveInt(command: string, flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^[1-9][0-9]*$/.test(value)) throw new UsageError(`vmswitch ${command}: --${flag} takes a positive whole number, not '${value}'`);
  return Number(value);
}
