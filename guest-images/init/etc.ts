// Small /etc files the shell and tools expect.

export const PROFILE = `export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export HOME=/root
export PS1='\\h:\\w# '
# busybox's poweroff, halt and reboot (without -f) signal PID 1 and expect an
# init that acts on it; our PID 1 is a shell waiting on this console shell, so
# the signal would wait too. No services run, so act at once. (Functions, not
# scripts in /bin: busybox sh runs its own applets before searching PATH.)
poweroff() { busybox poweroff -f "$@"; }
halt() { busybox halt -f "$@"; }
reboot() { busybox reboot -f "$@"; }
`;

// tcpdump drops privileges to the 'tcpdump' user after opening the capture.
export const PASSWD = `root:x:0:0:root:/root:/bin/sh
tcpdump:x:100:101:tcpdump:/nonexistent:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
`;

export const GROUP = `root:x:0:
tty:x:5:
tcpdump:x:101:
nogroup:x:65534:
`;

export const NSSWITCH = `passwd: files
group: files
hosts: files
services: files
protocols: files
`;

export const PROTOCOLS = `ip 0 IP
icmp 1 ICMP
igmp 2 IGMP
tcp 6 TCP
udp 17 UDP
ipv6 41 IPv6
ipv6-icmp 58 IPv6-ICMP
sctp 132 SCTP
`;

export const SERVICES = `echo 7/tcp
echo 7/udp
ssh 22/tcp
domain 53/tcp
domain 53/udp
bootps 67/udp
bootpc 68/udp
http 80/tcp
ntp 123/udp
https 443/tcp
iperf3 5201/tcp
`;
