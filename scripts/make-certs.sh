#!/usr/bin/env bash
# Makes a cluster CA and one certificate per node, for [tls]:
#   scripts/make-certs.sh OUT_DIR ID [ID...] [--host NAME_OR_IP]... [--client NAME]...
# Writes OUT_DIR/ca.crt and ca.key, OUT_DIR/node-<id>.crt and .key (subject CN
# node-<id>; SANs: DNS node-<id>, DNS localhost, IP 127.0.0.1 and every --host),
# and OUT_DIR/client-<name>.crt/.key for each --client (CN client-<name>, for
# clients that present a certificate). An existing CA in OUT_DIR is reused, so
# adding a node later keeps the cluster's trust. Keys are mode 0600.
set -euo pipefail

usage() { echo "usage: $0 OUT_DIR ID [ID...] [--host NAME_OR_IP]... [--client NAME]..." >&2; exit 2; }
[ $# -ge 2 ] || usage
out=$1; shift
ids=() hosts=() clients=()
while [ $# -gt 0 ]; do
  case $1 in
    --host) [ $# -ge 2 ] || usage; hosts+=("$2"); shift 2 ;;
    --client) [ $# -ge 2 ] || usage; clients+=("$2"); shift 2 ;;
    *) [[ $1 =~ ^[1-9][0-9]*$ ]] || { echo "$0: node id '$1' is not a positive integer" >&2; exit 2; }
       ids+=("$1"); shift ;;
  esac
done
[ ${#ids[@]} -gt 0 ] || [ ${#clients[@]} -gt 0 ] || usage
command -v openssl >/dev/null || { echo "$0: openssl is not installed" >&2; exit 1; }

mkdir -p "$out"
umask 077
days=825
if [ ! -f "$out/ca.key" ] || [ ! -f "$out/ca.crt" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -subj "/CN=troupe cluster CA" -keyout "$out/ca.key" -out "$out/ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi

issue() {  # name san usage
  local name=$1 san=$2 eku=$3 ext
  ext=$(mktemp)
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=%s\nsubjectAltName=%s\n' \
    "$eku" "$san" >"$ext"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$name" \
    -keyout "$out/$name.key" -out "$out/$name.csr" 2>/dev/null
  openssl x509 -req -in "$out/$name.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial \
    -days $days -extfile "$ext" -out "$out/$name.crt" 2>/dev/null
  rm -f "$out/$name.csr" "$ext"
  echo "$out/$name.crt"
}

for id in "${ids[@]}"; do
  san="DNS:node-$id,DNS:localhost,IP:127.0.0.1"
  for h in "${hosts[@]}"; do
    if [[ $h =~ ^[0-9.]+$ || $h == *:* ]]; then san+=",IP:$h"; else san+=",DNS:$h"; fi
  done
  # Nodes are servers to clients and peers, and clients to peers.
  issue "node-$id" "$san" "serverAuth,clientAuth"
done
for c in "${clients[@]}"; do
  issue "client-$c" "DNS:client-$c" "clientAuth"
done
chmod 0644 "$out"/*.crt
