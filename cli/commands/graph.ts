// `vmswitch graph FILE`: a lab file as a picture (SVG, or Graphviz dot).
import { readFile, writeFile } from 'node:fs/promises';
import type { Command } from '../main.ts';
import { parseCommandArgs, UsageError } from '../args.ts';
import { LabFileError, parseLabFile } from '../../host/lab/file/index.ts';
import { toDot, toSvg, topologyGraph } from '../../host/lab/graph/index.ts';

const HELP = `usage: vmswitch graph FILE [--out PATH] [--format svg|dot]

Draws the lab file FILE: its switches, VMs, NICs (model, addresses, VLAN,
impairment), links and routers. Without --out the picture goes to standard
output. The format is --format, else the extension of --out (.dot or .gv: dot),
else SVG.

options:
  -o, --out PATH     write the picture to PATH
  --format FORMAT    svg (default) or dot
  -h, --help         show this help`;

export const command: Command = {
  summary: 'draw a lab file as SVG or Graphviz dot',
  async run(argv) {
    const { values, positionals } = parseCommandArgs('graph', argv, { out: { type: 'string', short: 'o' }, format: { type: 'string' } }, true);
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError(`vmswitch graph: expected one lab file, got ${positionals.length} (try 'vmswitch graph --help')`);
    const format = values.format ?? (values.out && /\.(dot|gv)$/i.test(values.out) ? 'dot' : 'svg');
    if (format !== 'svg' && format !== 'dot') throw new UsageError(`vmswitch graph: --format takes svg or dot, not '${format}'`);
    const file = positionals[0]!;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw new UsageError(`vmswitch graph: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    let plan;
    try {
      plan = parseLabFile(text, { file });
    } catch (error) {
      if (error instanceof LabFileError) {
        console.error(error.message);
        return 1;
      }
      throw error;
    }
    const graph = topologyGraph(plan);
    const picture = format === 'dot' ? toDot(graph) : toSvg(graph);
    if (values.out) await writeFile(values.out, picture);
    else process.stdout.write(picture);
    return 0;
  },
};
