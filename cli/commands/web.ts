// `vmswitch web [--port N] [--host ADDR] [--allow-host NAME]... [--shared]`: the browser lab;
// `vmswitch web --export DIR`: the same lab as static files;
// `vmswitch web --file LAB.yaml`: the page runs that lab file (its topology drawn with live counters).
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import type { Command } from '../main.ts';
import { parseCommandArgs, UsageError } from '../args.ts';
import { readLabFileForCommand } from '../read-lab-file.ts';

const HELP = `usage: vmswitch web [--port N] [--host ADDR] [--allow-host NAME]... [--shared] [--rebuild] [--no-templates] [--file LAB.yaml]
       vmswitch web --export DIR [--no-templates]

Serves the browser lab: the page (bundled when missing or stale), v86, the
guest image (built when missing) and the template snapshots. Each VM runs in
a Web Worker in the page; the switch runs on the page. Missing template
snapshots (one per NIC model) are made in the background after the server
is up; until then VMs boot cold.

Only requests naming this server in their Host header are answered:
localhost, 127.0.0.1, [::1], the --host address (with 0.0.0.0 or ::, any
address of this machine) and the --allow-host names. Others get 421: a web
page cannot reach the lab by pointing its own domain at this machine (DNS
rebinding).

With --file LAB.yaml the page runs that lab file (the format of
\`vmswitch lab --file\`) instead of its one-switch lab: its switches, links
and VMs, the topology drawn with live rx/tx frame counters on every NIC and
link. The file is checked before anything is served. In the browser a
switch's capture file stays in memory (download it from the page), and
uplinks are refused (a page has no UDP sockets: use \`vmswitch lab --file\`).

With --export DIR nothing is served: the page, its bundle, v86's wasm, the
guest image, the template snapshots and lab.json are written into DIR (new,
empty or an earlier export), all with relative URLs, so that any static file
server serves the whole lab (no special headers needed).

With --shared the server also hosts a switch that every page joins over a
WebSocket (/shared), so VMs in two tabs, or on two people's machines, ping
each other. Each page gets a number P: its VMs' MACs are 0a:76:6d:P:N:I and
their addresses 10.0.P.N/16. Only pages this server served may join (the
Origin must match the Host); a page's frames from any other source MAC, text
messages, runts, oversize frames and floods are dropped and counted
(/shared.json shows pages, ports and drops). Closing a page runs the stop
order for its port on the shared switch.

options:
  --file LAB.yaml  run this lab file on the page
  --port N      TCP port (default 8086; 0 picks a free one)
  --host ADDR   address to bind (default 127.0.0.1, this machine only)
  --allow-host NAME  also answer requests for this host name (repeatable),
                e.g. the machine's DNS name when bound to a LAN address
  --shared      host a shared switch the pages join (see above)
  --rebuild     bundle the page again even when it looks current
  --no-templates  do not make missing template snapshots (VMs boot cold)
  --export DIR  write the lab as static files into DIR instead of serving it
  -h, --help    show this help`;

export const DEFAULT_PORT = 8086;

/** A DNS name (letters, digits, hyphens; dot-separated labels) or an IP address. */
function isHostName(name: string): boolean {
  if (isIP(name) !== 0) return true;
  return name.length <= 253 && /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i.test(name);
}

export interface WebArgs {
  help: boolean;
  port: number;
  host: string;
  rebuild: boolean;
  coldOnly: boolean;
  /** Present (true) when --shared was given. */
  shared?: boolean;
  /** Present when --allow-host was given. */
  allowHosts?: string[];
  /** Present when --export was given. */
  exportDir?: string;
  /** Present when --file was given. */
  file?: string;
}

export function parseWebArgs(argv: string[]): WebArgs {
  const { values } = parseCommandArgs('web', argv, {
    port: { type: 'string' },
    host: { type: 'string' },
    'allow-host': { type: 'string', multiple: true },
    rebuild: { type: 'boolean' },
    'no-templates': { type: 'boolean' },
    shared: { type: 'boolean' },
    export: { type: 'string' },
    file: { type: 'string' },
  });
  if (values.file === '') throw new UsageError('vmswitch web: --file takes a lab file');
  if (values.file !== undefined && values.export !== undefined) throw new UsageError('vmswitch web: --export writes the plain lab; --file does not apply');
  const exportDir = values.export;
  if (exportDir !== undefined) {
    if (exportDir === '') throw new UsageError('vmswitch web: --export takes a folder');
    const serving = (['port', 'host', 'allow-host', 'rebuild', 'shared'] as const).filter((name) => values[name] !== undefined);
    if (serving.length) throw new UsageError(`vmswitch web: --export serves nothing, so --${serving[0]} does not apply`);
  }
  let port = DEFAULT_PORT;
  if (values.port !== undefined) {
    if (!/^(0|[1-9][0-9]{0,4})$/.test(values.port) || Number(values.port) > 65535) {
      throw new UsageError(`vmswitch web: --port takes a port number 0-65535, not '${values.port}'`);
    }
    port = Number(values.port);
  }
  const host = values.host ?? '127.0.0.1';
  if (values.host !== undefined && host !== 'localhost' && isIP(host) === 0) {
    throw new UsageError(`vmswitch web: --host takes an IP address or 'localhost', not '${host}'`);
  }
  const allowHosts = values['allow-host'] ?? [];
  for (const name of allowHosts) {
    if (!isHostName(name)) throw new UsageError(`vmswitch web: --allow-host takes a host name or an IP address, not '${name}'`);
  }
  return {
    help: values.help ?? false,
    port,
    host,
    rebuild: values.rebuild ?? false,
    coldOnly: values['no-templates'] ?? false,
    ...(values.shared ? { shared: true } : {}),
    ...(allowHosts.length ? { allowHosts: allowHosts.map((name) => name.toLowerCase()) } : {}),
    ...(exportDir !== undefined ? { exportDir } : {}),
    ...(values.file !== undefined ? { file: values.file } : {}),
  };
}

/**
 * Reads and validates a lab file for the page, with `vmswitch lab --file`'s
 * one-line errors (exit 2). Uplinks are refused here: the page cannot open
 * UDP sockets, and a lab silently without its uplink would mislead.
 */
export async function readWebLabFile(path: string): Promise<{ name: string; text: string }> {
  const { name, text, plan } = await readLabFileForCommand('web', path);
  const withUplink = plan.switches.find((sw) => sw.uplinks.length);
  if (withUplink) {
    throw new UsageError(`vmswitch web: --file ${path}: switch ${withUplink.name} has an uplink, and a browser page cannot open one (no UDP sockets); run it with vmswitch lab --file`);
  }
  return { name, text };
}

async function exportLab(dir: string, coldOnly: boolean): Promise<number> {
  const { exportLab: write } = await import('../../web/export.ts');
  const out = resolve(dir);
  const result = await write(out, { templates: !coldOnly, log: (line) => console.log(line) });
  const bytes = result.files.reduce((sum, file) => sum + file.bytes, 0);
  const templates = Object.keys(result.snapshots);
  console.log(`exported the lab to ${out}: ${result.files.length} files, ${(bytes / 1e6).toFixed(0)} MB; template snapshots: ${templates.join(', ') || 'none (VMs boot cold)'}`);
  console.log(`serve that folder with any static file server, e.g. (cd ${JSON.stringify(out)} && python3 -m http.server 8000)`);
  return 0;
}

export const command: Command = {
  summary: 'serve the browser lab (xterm consoles, live switch panel)',
  async run(argv) {
    const args = parseWebArgs(argv);
    if (args.help) {
      console.log(HELP);
      return 0;
    }
    if (args.exportDir !== undefined) return exportLab(args.exportDir, args.coldOnly);
    const labFile = args.file !== undefined ? await readWebLabFile(args.file) : undefined;
    const { startLabServer } = await import('../../web/lab-server.ts');
    let server;
    try {
      server = await startLabServer({
        port: args.port,
        host: args.host,
        ...(args.allowHosts ? { allowHosts: args.allowHosts } : {}),
        rebuild: args.rebuild,
        ...(labFile ? { labFile } : {}),
        templates: args.coldOnly ? 'none' : 'background',
        shared: args.shared ?? false,
        log: (line) => console.log(line),
      });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE') throw new Error(`port ${args.port} on ${args.host} is in use (try --port)`);
      if (code === 'EADDRNOTAVAIL') throw new Error(`${args.host} is not an address of this machine`);
      throw error;
    }
    console.log(`vmswitch lab at ${server.url}${labFile ? ` running ${labFile.name}` : ''}  (Ctrl-C stops)`);
    if (server.shared) console.log(`shared switch: every page joins it (pages, ports and drops at ${server.url}shared.json)`);
    if (args.host !== '127.0.0.1' && args.host !== 'localhost' && args.host !== '::1') {
      console.log(`note: bound to ${args.host}: anyone who can reach it can run VMs in their browser from here`);
    }
    await new Promise<void>((resolve) => {
      const stop = () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolve();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    await server.close();
    return 0;
  },
};
