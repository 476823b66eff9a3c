#!/usr/bin/env bash
# tests/embedding/example_test.sh — runs examples/embed on three free loopback ports: it must exit
# 0 after its leader committed "x=1", every member applied it at that index, and all stopped.
#
#   bash tests/embedding/example_test.sh EMBED
set -euo pipefail
exec </dev/null
read -r -a ports <<<"$(python3 -c '
import socket
sockets = [socket.socket() for _ in range(3)]
for s in sockets: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in sockets))')"
output=$(timeout 60 "$1" "${ports[@]}")
echo "$output"
index=$(sed -n 's/^member [1-3] committed "x=1" at index \([0-9]*\) in term [0-9]*$/\1/p' <<<"$output")
[ -n "$index" ] || { echo "no commit reported" >&2; exit 1; }
for id in 1 2 3; do
  grep -qx "member $id applied \"x=1\" at index $index" <<<"$output" ||
    { echo "member $id did not apply x=1 at index $index" >&2; exit 1; }
done
[ "$(tail -n 1 <<<"$output")" = stopped ] || { echo "the cluster did not stop cleanly" >&2; exit 1; }
