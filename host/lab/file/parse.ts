// Lab file text -> LabPlan, or a LabFileError listing every problem with its
// line, column and field path. The text is untrusted: its size is bounded
// before the yaml parser sees it, the parser's own failures (syntax,
// duplicate keys, nesting too deep for the stack) become issues, and the
// walk over the tree is bounded by reader.ts.
import { LineCounter, parseDocument } from 'yaml';
import { LabFileError, type LabFileIssue } from './errors.ts';
import { Reader, StopReading, aliasTargets } from './reader.ts';
import { LIMITS, type LabPlan } from './schema.ts';
import { buildPlan } from './validate.ts';

export interface ParseLabFileOptions {
  /** Shown in messages (default `lab.yaml`). */
  file?: string;
}

function wholeFile(file: string, message: string, code: LabFileIssue['code']): LabFileError {
  return new LabFileError([{ code, file, line: 1, column: 1, path: '', message }]);
}

/** Parses and validates a lab file (YAML or JSON). Throws LabFileError and nothing else. */
export function parseLabFile(text: string, options: ParseLabFileOptions = {}): LabPlan {
  const file = options.file ?? 'lab.yaml';
  if (typeof text !== 'string') throw wholeFile(file, 'a lab file is text', 'bad-type');
  // UTF-16 code units bound the UTF-8 bytes from below; a cheap first check before counting bytes.
  if (text.length > LIMITS.fileBytes || new TextEncoder().encode(text).length > LIMITS.fileBytes) {
    throw wholeFile(file, `the file is larger than ${LIMITS.fileBytes} bytes`, 'too-big');
  }
  const lines = new LineCounter();
  let doc: ReturnType<typeof parseDocument>;
  let targets: ReturnType<typeof aliasTargets>;
  try {
    doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
    targets = aliasTargets(doc);
  } catch (error) {
    // The parser recurses per nesting level: a hostile file can exhaust the stack.
    const message = error instanceof RangeError ? 'the file is nested too deeply' : `the YAML parser failed: ${error instanceof Error ? error.message : String(error)}`;
    throw wholeFile(file, message, error instanceof RangeError ? 'too-big' : 'syntax');
  }
  // Aliases are expanded by our walk, not by yaml's toJS, so LIMITS.aliases (reader.ts) bounds them.
  const reader = new Reader(file, lines, targets);
  let truncated = false;
  try {
    if (doc.errors.length > 0) {
      for (const error of doc.errors) reader.errorAt(error.pos[0], '', 'syntax', error.message.split('\n')[0]!);
    } else if (doc.contents === null) {
      reader.errorAt(0, '', 'missing-field', 'the file is empty (expected switches, vms and links)');
    } else {
      const plan = buildPlan(reader, reader.root(doc.contents));
      if (reader.issues.length === 0) return plan;
    }
  } catch (error) {
    if (!(error instanceof StopReading)) throw error;
    truncated = error.truncated;
  }
  // Reported in file order, whatever order the checks ran in.
  const issues = [...reader.issues].sort((a, b) => a.line - b.line || a.column - b.column);
  throw new LabFileError(issues, truncated);
}
