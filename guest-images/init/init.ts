// The guest's /init (busybox sh, PID 1). It never exits: a shell that ends is
// started again, because PID 1 exiting panics the kernel.

/** The line the runtime waits for on the console. */
export const READY_LINE = 'vmswitch-ready';

export const INIT_SCRIPT = `#!/bin/sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr

while read -r module; do
  modprobe "$module" || echo "vmswitch-init: modprobe $module failed"
done < /etc/vmswitch/modules
/sbin/vmswitch-order-nics

# Our kernel parameters (vmswitch.KEY=VALUE) become vmswitch-config's KEY=VALUE.
settings=
for word in $(cat /proc/cmdline); do
  case "$word" in
    vmswitch.*=*) settings="$settings \${word#vmswitch.}" ;;
  esac
done
/sbin/vmswitch-config $settings

cd /root
echo ${READY_LINE}
while :; do
  setsid cttyhack /bin/sh -l
  sleep 1
done
`;

/**
 * Renames the NICs so that eth0, eth1, ... follow PCI slot order whichever
 * driver (e1000, virtio_net) bound them first.
 */
export const ORDER_NICS_SCRIPT = `#!/bin/sh
list=
for dev in /sys/class/net/*; do
  name=\${dev##*/}
  [ -e "$dev/device" ] || continue
  list="$list$(readlink -f "$dev/device") $name
"
done
sorted=$(printf '%s' "$list" | sort | while read -r path name; do echo "$name"; done)
want=0
same=1
for name in $sorted; do
  [ "$name" = "eth$want" ] || same=0
  want=$((want + 1))
done
[ $same = 1 ] && exit 0
# Two passes so that a new name never collides with an old one.
n=0
for name in $sorted; do ip link set dev "$name" name "vmsw$n" || echo "vmswitch-order-nics: cannot rename $name" >&2; n=$((n + 1)); done
i=0
while [ $i -lt $n ]; do ip link set dev "vmsw$i" name "eth$i"; i=$((i + 1)); done
`;

/**
 * (Re)applies a VM's identity; /init runs it with the vmswitch.* kernel
 * parameters and the runtime runs it again after restoring a snapshot.
 */
export const CONFIG_SCRIPT = `#!/bin/sh
# usage: vmswitch-config [hostname=NAME] [ip=CIDR[,CIDR...]] [gw=ADDR]
#                        [hosts=NAME=ADDR[,NAME=ADDR...]] [mac=ethN=MAC[,ethN=MAC...]]
# ip's Nth address goes to ethN ('-' leaves that NIC without an address).
# Every fork costs in an emulated guest (and this runs after each snapshot
# restore), so shell built-ins and sysfs reads are used where they do.
me=vmswitch-config
state=/etc/vmswitch
status=0
new_hostname= new_ip= new_gw= new_hosts= new_mac= set_ip=0 set_hosts=0
for arg in "$@"; do
  case "$arg" in
    hostname=*) new_hostname=\${arg#*=} ;;
    ip=*) new_ip=\${arg#*=}; set_ip=1 ;;
    gw=*) new_gw=\${arg#*=} ;;
    hosts=*) new_hosts=\${arg#*=}; set_hosts=1 ;;
    mac=*) new_mac=\${arg#*=} ;;
    *) echo "$me: unknown setting '$arg' (expected hostname=, ip=, gw=, hosts=, mac=)" >&2; exit 2 ;;
  esac
done
case "$new_hostname" in
  *[!A-Za-z0-9.-]*) echo "$me: bad hostname '$new_hostname'" >&2; exit 2 ;;
esac

# is_up DEV: the IFF_UP bit of the NIC's flags.
is_up() {
  flags=0
  read -r flags 2>/dev/null < /sys/class/net/$1/flags
  [ $((flags & 1)) = 1 ]
}
is_up lo || ip link set dev lo up

if [ -n "$new_hostname" ]; then
  hostname "$new_hostname" && echo "$new_hostname" > /etc/hostname
fi

IFS=,
set -- $new_mac
unset IFS
for pair in "$@"; do
  dev=\${pair%%=*} addr=\${pair#*=}
  was_up=0
  is_up "$dev" && was_up=1
  ip link set dev "$dev" down && ip link set dev "$dev" address "$addr" || { echo "$me: cannot set $dev address $addr" >&2; status=1; }
  [ $was_up = 1 ] && ip link set dev "$dev" up
done

if [ $set_ip = 1 ]; then
  IFS=,
  set -- $new_ip
  unset IFS
  i=0
  for cidr in "$@"; do
    dev=eth$i
    i=$((i + 1))
    if ! [ -e /sys/class/net/$dev ]; then echo "$me: no NIC $dev for $cidr" >&2; status=1; continue; fi
    # busybox ip says 'Nothing to flush' on a fresh NIC: keep the console clean.
    ip addr flush dev $dev >/dev/null 2>&1
    ip neigh flush dev $dev >/dev/null 2>&1
    is_up $dev || ip link set dev $dev up
    [ "$cidr" = - ] && continue
    ip addr add "$cidr" dev $dev || { echo "$me: cannot add $cidr to $dev" >&2; status=1; }
  done
fi
if [ -n "$new_gw" ]; then
  ip route replace default via "$new_gw" || { echo "$me: cannot route via $new_gw" >&2; status=1; }
fi

# /etc/hosts is rewritten from the current hostname and the last hosts= list.
[ $set_hosts = 1 ] && echo "$new_hosts" > $state/hosts-setting
hosts_setting=
read -r hosts_setting 2>/dev/null < $state/hosts-setting
name=localhost
read -r name 2>/dev/null < /etc/hostname
IFS=,
set -- $hosts_setting
unset IFS
{
  echo "127.0.0.1 localhost"
  listed=0
  for pair in "$@"; do
    host=\${pair%%=*} addr=\${pair#*=}
    [ "$host" = "$name" ] && listed=1
    echo "$addr $host"
  done
  [ $listed = 0 ] && [ "$name" != localhost ] && echo "127.0.1.1 $name"
} > /etc/hosts
exit $status
`;
