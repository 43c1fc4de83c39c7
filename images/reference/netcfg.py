"""The reference guest's reader of cloud-init network-config v2 (busybox awk).

It reads the YAML the compute driver's ``configdrive`` module writes (``yaml.safe_dump``,
block style: ``ethernets.<name>.match.macaddress``, ``addresses`` list, ``routes[].via``,
``mtu``) and prints one line per action for ``init.sh``::

    addr <mac> <ip/prefix>
    mtu <mac> <bytes>
    gw <mac> <gateway>

Quotes are dropped (YAML quotes MACs that look like base-60 numbers).
"""

NETCFG_AWK = r"""
function flush(  i) {
  for (i = 0; i < n; i++) print "addr", mac, addr[i]
  if (mtu != "") print "mtu", mac, mtu
  if (gw != "") print "gw", mac, gw
}
{ gsub(/["\047]/, "") }
/^  [^ ].*:$/ { flush(); mac = ""; n = 0; gw = ""; mtu = ""; sect = ""; next }
/^    [a-z0-9-]+:/ { sect = $1; sub(/:$/, "", sect) }
/^      macaddress:/ { mac = tolower($2) }
sect == "addresses" && /^    - / { addr[n++] = $2 }
sect == "routes" && /via:/ { gw = $NF }
/^    mtu:/ { mtu = $2 }
END { flush() }
"""
