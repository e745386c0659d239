#!/usr/bin/env bash
# Regenerates the configuration key table of docs/operations.md (between the
# config-keys markers) from the declarations, with `shardd config-keys`.
# Usage: scripts/update-config-docs.sh [path/to/shardd]   (default build/test/shardd)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-build/test/shardd}"
table="$("$bin" config-keys)"
python3 - "$table" <<'PY'
import sys
path = "docs/operations.md"
doc = open(path, encoding="utf-8").read()
begin = doc.index("<!-- config-keys:begin")
begin = doc.index("\n", begin) + 1
end = doc.index("<!-- config-keys:end -->")
open(path, "w", encoding="utf-8").write(doc[:begin] + sys.argv[1] + "\n" + doc[end:])
PY
echo "docs/operations.md: key table regenerated"
