#!/bin/sh
# The dependency versions CI tested (scripts/tested-dependencies.txt) and Package.resolved.
#
#   scripts/pin-dependencies.sh write-resolved   writes Package.resolved from the list; then
#                                                `swift build --force-resolved-versions` builds
#                                                exactly those versions, or fails (the image's
#                                                build stage does this)
#   scripts/pin-dependencies.sh update           rewrites the list from Package.resolved, after a
#                                                resolution you mean to test and ship
set -eu
cd "$(dirname "$0")/.."
list=scripts/tested-dependencies.txt

case "${1:-}" in
write-resolved)
    {
        printf '{\n  "pins" : [\n'
        first=1
        grep -v '^#' "$list" | while read -r identity version revision location; do
            [ -n "$identity" ] || continue
            [ "$first" = 1 ] || printf ',\n'
            first=0
            printf '    {\n      "identity" : "%s",\n      "kind" : "remoteSourceControl",\n      "location" : "%s",\n' "$identity" "$location"
            printf '      "state" : {\n        "revision" : "%s",\n        "version" : "%s"\n      }\n    }' "$revision" "$version"
        done
        printf '\n  ],\n  "version" : 2\n}\n'
    } > Package.resolved
    echo "pin-dependencies: Package.resolved written from $list ($(grep -vc '^#' "$list") packages)"
    ;;
update)
    python3 - "$list" <<'PY'
import json, sys
path = sys.argv[1]
header = [line for line in open(path) if line.startswith("#")]
pins = json.load(open("Package.resolved"))["pins"]
with open(path, "w") as f:
    f.writelines(header)
    for p in pins:
        f.write(f'{p["identity"]} {p["state"]["version"]} {p["state"]["revision"]} {p["location"]}\n')
print(f"pin-dependencies: {path} rewritten ({len(pins)} packages)")
PY
    ;;
*)
    echo "usage: $0 write-resolved | update" >&2
    exit 2
    ;;
esac
