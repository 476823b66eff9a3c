#!/usr/bin/env bash
# tests/embedding/readme_test.sh — the README shows examples/embed.cpp as it is: the code block
# after the line "<!-- examples/embed.cpp -->" must be the file, line for line.
#
#   bash tests/embedding/readme_test.sh README.md examples/embed.cpp
set -euo pipefail
shown=$(awk '/^<!-- examples\/embed.cpp -->$/ { found = 1; next }
             found && /^```cpp$/ { inside = 1; next }
             inside && /^```$/ { exit }
             inside { print }' "$1")
[ -n "$shown" ] || { echo "no block after <!-- examples/embed.cpp --> in $1" >&2; exit 1; }
diff -u "$2" <(printf '%s\n' "$shown") && echo "the README shows $2 as it is"
