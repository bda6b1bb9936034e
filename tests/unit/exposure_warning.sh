#!/usr/bin/env bash
# troupe-node --check-config warns about a listener beyond loopback without
# [tls] and tokens (the raft wire's: without [tls]), and only then.
# Usage: exposure_warning.sh TROUPE_NODE SOURCE_DIR
set -euo pipefail
node=$1 src=$2
dir=$(mktemp -d /tmp/troupe-exposure-XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# Flags only: both listeners on 0.0.0.0, no TLS, no tokens.
"$node" --node-id 1 --data-dir "$dir/d1" --check-config 2>"$dir/err" >/dev/null
grep -q "SECURITY: the gRPC listener 0.0.0.0:50051 is reachable beyond loopback with no \[tls\] and no \[\[auth.tokens\]\]" "$dir/err" \
  || fail "no gRPC warning: $(cat "$dir/err")"
grep -q "SECURITY: the HTTP listener 0.0.0.0:8081" "$dir/err" || fail "no HTTP warning: $(cat "$dir/err")"

# Tokens but no TLS: still warned, naming what is missing.
"$node" --node-id 1 --data-dir "$dir/d1" --auth-token ci:submit:abc --check-config 2>"$dir/err" >/dev/null
grep -q "with no \[tls\]:" "$dir/err" || fail "tokens without TLS not warned: $(cat "$dir/err")"

# TLS and tokens: quiet.
bash "$src/scripts/make-certs.sh" "$dir/tls" 1 >/dev/null
"$node" --node-id 1 --data-dir "$dir/d1" --auth-token ci:submit:abc --tls-cert "$dir/tls/node-1.crt" \
  --tls-key "$dir/tls/node-1.key" --tls-ca "$dir/tls/ca.crt" --check-config 2>"$dir/err" >/dev/null
! grep -q SECURITY "$dir/err" || fail "warned with TLS and tokens: $(cat "$dir/err")"

# The raft wire beyond loopback without [tls]: warned, naming it.
sed "s|data_dir = .*|data_dir = \"$dir/d3\"|; 0,/^wire = \"127.0.0.1:50061\"/s||wire = \"0.0.0.0:50061\"|" \
  "$src/deploy/local/node1.toml" >"$dir/wire.toml"
"$node" --config "$dir/wire.toml" --check-config 2>"$dir/err" >/dev/null
grep -q "SECURITY: the raft wire listener 0.0.0.0:50061 is reachable beyond loopback and has no TLS" "$dir/err" \
  || fail "no raft wire warning: $(cat "$dir/err")"

# The same with [tls] (the wire is then mutual TLS) and tokens: quiet.
"$node" --config "$dir/wire.toml" --tls-cert "$dir/tls/node-1.crt" --tls-key "$dir/tls/node-1.key" \
  --tls-ca "$dir/tls/ca.crt" --auth-token ci:submit:abc --check-config 2>"$dir/err" >/dev/null
! grep -q SECURITY "$dir/err" || fail "raft wire with TLS warned: $(cat "$dir/err")"

# Loopback only (the local example, its raft wire included): quiet.
sed "s|data_dir = .*|data_dir = \"$dir/d2\"|" "$src/deploy/local/node1.toml" >"$dir/node1.toml"
"$node" --config "$dir/node1.toml" --check-config 2>"$dir/err" >/dev/null
! grep -q SECURITY "$dir/err" || fail "warned on loopback: $(cat "$dir/err")"
echo "exposure warnings: OK"
