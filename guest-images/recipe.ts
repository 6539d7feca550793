// What goes into the guest image. Changing anything here (or any builder
// source file) changes the recipe hash and makes existing images stale.

/** The metapackage whose dependency names the kernel package. */
export const KERNEL_METAPACKAGE = 'linux-image-686';
export const BUSYBOX_PACKAGE = 'busybox-static';
export const BIOS_PACKAGE = 'seabios';
export const BIOS_FILES = { bios: 'usr/share/seabios/bios.bin', vgaBios: 'usr/share/seabios/vgabios-stdvga.bin' } as const;

/** Tool packages: every ELF executable in their bin folders goes into /bin. nftables: `nft` for NAT labs (one binary and libnftables; iptables' dlopen'ed extensions would escape the shared-library walk). */
export const TOOL_PACKAGES = ['ethtool', 'tcpdump', 'iperf3', 'nftables'] as const;

/**
 * Loaded at boot in this order (dependencies are resolved from the modules
 * themselves). The nf_* ones are what `nft` needs for a NAT router: tables,
 * the nat chain type, masquerade and conntrack matches (nf_nat, nf_conntrack
 * come as their dependencies; crc32c_generic is libcrc32c's soft
 * dependency, which modinfo's depends= does not list: without it
 * libcrc32c, and so nf_tables, fails to load).
 */
export const KERNEL_MODULES = ['af_packet', '8021q', 'e1000', 'virtio_pci', 'virtio_net', 'crc32c_generic', 'nf_tables', 'nft_chain_nat', 'nft_masq', 'nft_ct'] as const;

/** Where tool executables live inside their packages. */
export const BIN_DIRS = ['bin', 'sbin', 'usr/bin', 'usr/sbin'] as const;

export const RECIPE = {
  kernel: KERNEL_METAPACKAGE,
  busybox: BUSYBOX_PACKAGE,
  bios: BIOS_PACKAGE,
  biosFiles: BIOS_FILES,
  tools: TOOL_PACKAGES,
  modules: KERNEL_MODULES,
};
