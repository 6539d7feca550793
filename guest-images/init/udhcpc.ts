// busybox udhcpc's default script (/etc/udhcpc/default.script, the path
// Debian's busybox is built with), which
// Debian's busybox-static does not ship: udhcpc calls it with `deconfig`,
// `bound`, `renew`, `leasefail` or `nak` and the lease in the environment
// ($interface $ip $mask $router $dns $domain). It applies the
// lease with busybox `ip` and writes /etc/resolv.conf; without it udhcpc gets
// a lease and configures nothing.
export const UDHCPC_SCRIPT = `#!/bin/sh
# usage (by udhcpc): default.script deconfig|bound|renew|leasefail|nak
[ -n "$interface" ] || { echo "udhcpc script: no interface" >&2; exit 1; }
case "$1" in
  deconfig)
    ip -4 addr flush dev "$interface" >/dev/null 2>&1
    ip link set dev "$interface" up
    ;;
  bound|renew)
    # busybox gives the prefix length as $mask (and the dotted mask as $subnet).
    prefix=\${mask:-24}
    ip -4 addr flush dev "$interface" >/dev/null 2>&1
    ip addr add "$ip/$prefix" \${broadcast:+broadcast $broadcast} dev "$interface"
    if [ -n "$router" ]; then
      for gw in $router; do ip route replace default via "$gw" dev "$interface" && break; done
    fi
    if [ -n "$dns" ]; then
      : > /etc/resolv.conf
      [ -n "$domain" ] && echo "search $domain" >> /etc/resolv.conf
      for server in $dns; do echo "nameserver $server" >> /etc/resolv.conf; done
    fi
    ;;
  leasefail|nak)
    echo "udhcpc: $1 on $interface" >&2
    ;;
esac
exit 0
`;
