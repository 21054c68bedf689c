#!/usr/bin/env bash
# Fails when a shipped ELF file would not start on the oldest glibc the fleet runs.
#
#   packaging/check-floor.sh [--floor 2.17] FILE...
#
# For every file: the newest GLIBC_x.y version it requires (its version-needs, `objdump -p`) must
# not be above the floor, and it must carry no DT_RELR table (`-z pack-relative-relocs`: the
# loader of glibc < 2.36 does not apply it, so the program would crash at start). Prints one line
# per file (`ok 2.17 gearman` / `FAIL 2.34 gearman: needs GLIBC_2.34`) and exits 1 on any failure.
set -euo pipefail

floor=2.17
if [ "${1:-}" = "--floor" ]; then
    floor=$2
    shift 2
fi
[ $# -gt 0 ] || { echo "usage: $0 [--floor X.Y] FILE..." >&2; exit 2; }

# Is version $1 newer than $2 (both x.y or x.y.z)?
newer() { [ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | tail -1)" = "$1" ]; }

failed=0
for file in "$@"; do
    if ! head -c 4 "$file" | grep -q 'ELF'; then
        echo "FAIL $file: not an ELF file"
        failed=1
        continue
    fi
    # Version references only (what the file needs), not the versions it defines.
    needed=$(objdump -p "$file" | sed -n '/^Version References:/,/^$/p' |
        grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
    needed=${needed:-none}
    problems=()
    if [ "$needed" != none ] && newer "$needed" "$floor"; then
        problems+=("needs GLIBC_$needed, above the floor $floor")
    fi
    if readelf -d "$file" | grep -q '(RELR)'; then
        problems+=("has a DT_RELR table (glibc 2.36 or newer to start)")
    fi
    if [ ${#problems[@]} -eq 0 ]; then
        echo "ok   $needed $file"
    else
        echo "FAIL $needed $file: ${problems[*]}"
        failed=1
    fi
done
exit $failed
