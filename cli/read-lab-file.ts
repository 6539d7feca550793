// A lab file read and validated for a command (`lab --file`, `web --file`):
// a missing file or the file's first problem becomes one usage line naming
// the command, the file, the line and the field (exit 2).
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { UsageError } from './args.ts';
import type { LabPlan } from '../host/lab/file/index.ts';

export async function readLabFileForCommand(command: string, path: string): Promise<{ name: string; text: string; plan: LabPlan }> {
  const { parseLabFile, LabFileError, formatIssue } = await import('../host/lab/file/index.ts');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new UsageError(`vmswitch ${command}: --file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const name = basename(path);
  try {
    return { name, text, plan: parseLabFile(text, { file: name }) };
  } catch (error) {
    if (!(error instanceof LabFileError)) throw error;
    const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more)` : '';
    throw new UsageError(`vmswitch ${command}: ${formatIssue(error.issues[0]!)}${more}`);
  }
}
