// `vmswitch image build [--force]` and `vmswitch image info`.
import type { Command } from '../main.ts';
import { parseCommandArgs, UsageError } from '../args.ts';


const HELP = `usage: vmswitch image build [--force] [--no-apt] [--mirror URL] [--security-mirror URL] [--allow-expired]
       vmswitch image info

Builds the guest image (Debian bookworm i386 kernel, busybox, ethtool, tcpdump,
iperf3, SeaBIOS) into $XDG_CACHE_HOME/vmswitch/image (or ~/.cache/vmswitch/image),
or shows what the built image holds. Packages are cached beside it.

subcommands:
  build      build the image when it is missing or stale
  info       print the manifest summary (exit status 1 when no image is built)

Without apt-get and dpkg-deb (macOS, Windows, other Linux) the packages come
from a Debian mirror read directly: InRelease checked against Debian's archive
keys (guest-images/keys/), Packages against the signed hashes, every .deb
against Packages; the image is the same bytes the apt path builds.

options:
  --force                (build) refresh the package lists and rebuild even when current
  --no-apt               (build) read the Debian mirror directly even where apt exists
                         (env VMSWITCH_NO_APT=1 does the same for every build, e.g. npm start)
  --mirror URL           (build, mirror) the /debian folder of a Debian mirror, for bookworm and
                         bookworm-updates (env VMSWITCH_DEBIAN_MIRROR; default: the one
                         the machine's apt sources name, if any)
  --security-mirror URL  (build, mirror) the Debian security archive, for bookworm-security
                         (env VMSWITCH_DEBIAN_SECURITY_MIRROR; default as --mirror)
  --allow-expired        (build, mirror) accept a Release past its Valid-Until (a stale
                         or frozen mirror; env VMSWITCH_ALLOW_EXPIRED=1)
  -h, --help             show this help`;

async function build(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('image build', argv, {
    force: { type: 'boolean' },
    'no-apt': { type: 'boolean' },
    mirror: { type: 'string' },
    'security-mirror': { type: 'string' },
    'allow-expired': { type: 'boolean' },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const { ensureImage, staleReason } = await import('../../guest-images/index.ts');
  const started = Date.now();
  const sourceOptions = {
    ...(values['no-apt'] ? { source: 'mirror' as const } : {}),
    ...(values.mirror !== undefined ? { mirror: values.mirror } : {}),
    ...(values['security-mirror'] !== undefined ? { securityMirror: values['security-mirror'] } : {}),
    ...(values['allow-expired'] ? { allowExpired: true } : {}),
  };
  const reason = values.force ? undefined : await staleReason();
  if (!values.force && reason === undefined) {
    const image = await ensureImage(sourceOptions);
    console.log(`guest image is up to date (kernel ${image.manifest.kernelVersion}) in ${image.dir}`);
    return 0;
  }
  const image = await ensureImage({ ...sourceOptions, force: values.force ?? false, log: (line) => console.log(line) });
  const initrd = image.manifest.files['initramfs.cpio.gz'];
  console.log(`built in ${((Date.now() - started) / 1000).toFixed(1)} s: kernel ${image.manifest.kernelVersion}, initramfs ${(initrd.size / 1e6).toFixed(1)} MB`);
  return 0;
}

async function info(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('image info', argv, {});
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const { imagePaths, staleReason, cacheDir } = await import('../../guest-images/index.ts');
  const paths = imagePaths();
  const m = paths.manifest;
  if (!m) {
    console.log(`no guest image is built (run 'vmswitch image build')`);
    return 1;
  }
  const stale = await staleReason();
  console.log(`guest image in ${paths.dir}${stale ? ` (stale: ${stale})` : ''}`);
  console.log(`kernel:    ${m.kernelVersion}`);
  console.log(`recipe:    ${m.recipeHash.slice(0, 16)}`);
  console.log(`cache:     ${cacheDir()}`);
  console.log(`modules:   ${m.modules.join(' ')}${m.builtinModules.length ? ` (built in: ${m.builtinModules.join(' ')})` : ''}`);
  console.log(`libraries: ${m.libraries.map((l) => l.soname).join(' ')}`);
  console.log('packages:');
  for (const p of m.packages) console.log(`  ${p.name.padEnd(28)} ${p.version.padEnd(26)} ${p.role}`);
  console.log('files:');
  for (const [name, f] of Object.entries(m.files)) console.log(`  ${name.padEnd(18)} ${String(f.size).padStart(9)}  sha256 ${f.sha256}`);
  return 0;
}

export const command: Command = {
  summary: 'build the guest image or show what it holds',
  async run(argv) {
    const [sub, ...rest] = argv;
    if (sub === '--help' || sub === '-h' || sub === 'help') {
      console.log(HELP);
      return 0;
    }
    if (sub === 'build') return build(rest);
    if (sub === 'info') return info(rest);
    if (sub === undefined) throw new UsageError(`vmswitch image: missing subcommand (build or info; try 'vmswitch image --help')`);
    throw new UsageError(`vmswitch image: unknown subcommand '${sub}' (build or info; try 'vmswitch image --help')`);
  },
};
