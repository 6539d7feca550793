// Why a lab file was refused. One LabFileError carries every problem found
// (up to MAX_ISSUES), each naming the file, line, column and field path, so
// the author fixes them in one pass. A `code` per issue lets callers and tests
// branch without matching message text.

export type LabFileIssueCode =
  /** The file is too big, too deep, has too many nodes or aliases. */
  | 'too-big'
  /** Not YAML or JSON (the yaml parser's own errors: bad indentation, unclosed brackets, duplicate keys). */
  | 'syntax'
  /** A field the format does not have. */
  | 'unknown-field'
  /** A required field is absent. */
  | 'missing-field'
  /** A value of the wrong kind (a list where a mapping belongs, a number for a string). */
  | 'bad-type'
  /** A value of the right kind outside its range or format (VLAN 5000, memory 64, "5 apples"). */
  | 'bad-value'
  /** Not an IPv4/IPv6 address or prefix, or a prefix that does not fit where it is used. */
  | 'bad-address'
  /** A name that is not lower-case letters, digits and '-', starting with a letter, or too long. */
  | 'bad-name'
  /** A reference to a switch, VM, NIC or link the file does not define. */
  | 'unknown-reference'
  /** Two of something that must be unique (MACs, addresses in one subnet, link ends). */
  | 'duplicate'
  /** Links that form a loop (there is no spanning tree to break it). */
  | 'loop'
  /** A NIC's VLAN that a link on the way to the same VLAN elsewhere does not carry. */
  | 'vlan-not-carried'
  /** More of something than the format allows (VMs, NICs, rules, errors). */
  | 'too-many';

export interface LabFileIssue {
  code: LabFileIssueCode;
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
  /** Where in the document: `vms.a.nics[0].switch` (empty for the whole file). */
  path: string;
  message: string;
}

/** At most this many issues are collected; the rest are counted as "stopped". */
export const MAX_ISSUES = 50;

export function formatIssue(issue: LabFileIssue): string {
  const where = `${issue.file}:${issue.line}:${issue.column}`;
  return issue.path ? `${where}: ${issue.path}: ${issue.message}` : `${where}: ${issue.message}`;
}

export class LabFileError extends Error {
  constructor(
    readonly issues: readonly LabFileIssue[],
    /** True when collection stopped at MAX_ISSUES (there may be more). */
    readonly truncated = false,
  ) {
    const lines = issues.map(formatIssue);
    if (truncated) lines.push(`(stopped after ${issues.length} errors)`);
    super(lines.join('\n'));
    this.name = 'LabFileError';
  }
}
