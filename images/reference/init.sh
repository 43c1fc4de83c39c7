#!/bin/busybox sh
# PID 1 of the Atoll reference VNF (an initramfs; nothing else runs).
#   1. loads the virtio modules listed in /etc/modules, in rounds until all load
#      (a module whose dependency is not loaded yet fails and is retried next round),
#      with the parameters in /etc/modparams/NAME;
#   2. finds its config drive by label (cloud-init NoCloud: LABEL=cidata) and reads
#      meta-data (instance-id, local-hostname) and network-config v2 (per-NIC static
#      addresses, matched by MAC; default route; MTU);
#   3. brings its NICs up, serves HTTP on port 80 (hostname and instance id) and echoes
#      UDP on port 7;
#   4. prints "atoll-reference: ready ..." on the console.
/bin/busybox mkdir -p /proc /sys /dev /tmp /mnt /www /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
log() { read -r up _ < /proc/uptime; echo "atoll-reference: $* (uptime ${up}s)"; }
log "init started"

# Few forks: each costs tens of milliseconds under emulation, so files are read with `read`.
loaded() {
  while read -r name _; do [ "$name" = "$1" ] && return 0; done < /proc/modules
  return 1
}
want=""
while read -r m; do want="$want $m"; done < /etc/modules
left=""
for round in 1 2 3 4 5 6 7 8; do
  left=""
  for m in $want; do
    loaded "$m" && continue
    params=""
    [ -f "/etc/modparams/$m" ] && read -r params < "/etc/modparams/$m"
    # shellcheck disable=SC2086 (params are words)
    insmod "/lib/modules/$m.ko" $params 2>/dev/null || left="$left $m"
  done
  [ -z "$left" ] && break
  want=$left
done
[ -n "$left" ] && log "modules that did not load:$left"
read -r csum < /sys/module/virtio_net/parameters/csum
log "modules loaded (virtio_net csum=$csum)"
ip link set lo up

dev=""
for i in $(seq 150); do
  dev=$(findfs LABEL=cidata 2>/dev/null) && [ -n "$dev" ] && break
  usleep 20000
done
host=reference
iid=unknown
if [ -n "$dev" ] && mount -t iso9660 -o ro "$dev" /mnt; then
  unquote() { uq=${1# }; uq=${uq#[\'\"]}; uq=${uq%[\'\"]}; }
  while IFS=: read -r key value; do
    case $key in
      instance-id) unquote "$value"; iid=$uq ;;
      local-hostname) unquote "$value"; host=$uq ;;
    esac
  done < /mnt/meta-data
  [ -f /mnt/network-config ] && awk -f /etc/netcfg.awk /mnt/network-config > /tmp/net
else
  log "no config drive (LABEL=cidata) found"
fi
hostname "$host"
log "config drive read"

nic=""
nic_of() {
  nic=""
  for d in /sys/class/net/*; do
    read -r address < "$d/address"
    [ "$address" = "$1" ] && { nic=${d##*/}; return; }
  done
}
ips=""
while read -r kind mac value; do
  nic_of "$mac"
  [ -z "$nic" ] && { log "no NIC with MAC $mac"; continue; }
  ip link set "$nic" up
  case $kind in
    addr) ip addr add "$value" dev "$nic" && ips="$ips $nic=$value"
          # announce ourselves: peers already asking for this address learn it at once
          case $value in *:*) ;; *) arping -U -c 1 -I "$nic" "${value%/*}" >/dev/null 2>&1 & ;; esac ;;
    mtu) ip link set "$nic" mtu "$value" ;;
    gw) case $value in
          *:*) ip -6 route add default via "$value" dev "$nic" ;;
          *) ip route add default via "$value" dev "$nic" ;;
        esac ;;
  esac
done < /tmp/net 2>/dev/null

echo "hostname=$host instance-id=$iid" > /www/index.html
httpd -p 80 -h /www
/bin/udpecho &
log "ready hostname=$host instance-id=$iid addresses=${ips# }"
while true; do sleep 3600; done
