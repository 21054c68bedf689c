#!/usr/bin/env bash
# bench/secureagent-vs-aide.sh -- Benchmark P6: secureagent against Debian's AIDE 0.18.3.
#
# Usage: bench/secureagent-vs-aide.sh [SOURCE=/usr/share]
#   KEEP=1        keep the work folder (trees, databases, reports) and print its path.
#   BUILD_DIR=d   measure the secureagent in d (not building); default: cargo build --release.
#   FLAT_SIZES    entries of the flat folder for secureagent (default "10000 25000 50000 100000").
#   AIDE_FLAT     the sizes AIDE is run on too (default "10000 25000 50000"; AIDE is quadratic in the
#                 entries of one folder: 100,000 would take it most of an hour).
#   SKIP_USR=1 / SKIP_GEN=1 / SKIP_FLAT=1   leave a part out.
#
# One run, one machine, one after the other (never both at once: the machine has 2 cores):
#   (a) a copy of SOURCE (cp -a) and (b) the peer script's generated tree (peers/aide.sh: seed
#   20240601, 200 dirs x 100 files, ~540 MB). On each: AIDE `--init --workers 2`, then
#   secureagent `--init` (workers = 2), then the peer script's 14 changes (3 appended, 2
#   rewritten in place with size and mtime kept, 3 chmod, 2 deleted, 4 added), then AIDE
#   `--check --workers 2` and secureagent `--check` on the changed tree. Both use the peer's
#   rule `R = p+u+g+s+m+i+sha256` over the whole tree (root_prefix = the tree), a database
#   outside it, warm cache (every file read once before the first run). secureagent runs at
#   nice 0 and I/O class best-effort (its config's lowest, level 7; AIDE has the default 4),
#   no read cap, no Polaris.
#   (c) one flat folder of N files of 100 bytes: secureagent `--init` and `--check` (unchanged
#   tree) for each N of FLAT_SIZES, time per entry; AIDE `--init` on AIDE_FLAT.
# Each run under GNU time (`-f '%e %U %S %M'`: wall s, user s, system s, peak RSS kB, the
# figure `time -v` calls "Maximum resident set size"). Prints a markdown table (ratios are
# AIDE/secureagent: above 1, secureagent is faster or smaller) and a `=== FIGURES
# secureagent-vs-aide ===` block of `name: value` lines. Goals (issue 17): >= 2x faster than
# AIDE in both steps on both trees; peak RSS no more than AIDE's; time linear in one flat
# folder's entries. The work folder is under the repository's tmp/ (not /tmp, often tmpfs).
set -euo pipefail
export LC_ALL=C

SRC="${1:-/usr/share}"
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FLAT_SIZES="${FLAT_SIZES:-10000 25000 50000 100000}"
AIDE_FLAT="${AIDE_FLAT:-10000 25000 50000}"
WORKERS=2

# ---------------------------------------------------------------- install (as peers/aide.sh)
need_pkgs() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || { echo "need root to install: ${missing[*]}" >&2; exit 1; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
need_pkgs aide time python3-minimal
AIDE=$(command -v aide || echo /usr/bin/aide)
A_VERSION=$(dpkg-query -W -f='${Version}' aide)

# ---------------------------------------------------------------- work folder, cleanup
mkdir -p "$REPO/tmp"
WORK=$(mktemp -d "$REPO/tmp/secureagent-vs-aide.XXXXXX")
cleanup() { if [ "${KEEP:-0}" = 1 ]; then echo "kept: $WORK" >&2; else rm -rf "$WORK"; fi; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- build secureagent (release)
if [ -n "${BUILD_DIR:-}" ]; then
  SA="$BUILD_DIR/secureagent"
  echo "### measuring $SA (not building)"
else
  echo "### building secureagent (nice -n 19 cargo build --release -p secureagent)"
  if ! (cd "$REPO" && nice -n 19 cargo build --release -p secureagent) > "$WORK/build.log" 2>&1; then
    echo "cargo build failed:"; tail -40 "$WORK/build.log"; exit 1
  fi
  SA="${CARGO_TARGET_DIR:-$REPO/target}/release/secureagent"
fi
[ -x "$SA" ] || { echo "no secureagent at $SA" >&2; exit 1; }
S_VERSION=$("$SA" --version | awk '{print $NF}')
CPU_MODEL=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
echo "### AIDE $A_VERSION, secureagent $S_VERSION ($(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')), $(nproc) CPUs: $CPU_MODEL, load $(cut -d' ' -f1-3 /proc/loadavg)"

declare -A F   # figures: F[tree.tool.step.key], key in wall user sys cpu rss rc

# timed KEY OUT CMD... : runs CMD under GNU time; stdout+stderr -> OUT; figures -> F[KEY.*]
timed() {
  local key=$1 out=$2; shift 2
  set +e
  /usr/bin/time -o "$WORK/time.tmp" -f '%e %U %S %M' "$@" > "$out" 2>&1
  local rc=$?
  set -e
  read -r w u s m < <(tail -n 1 "$WORK/time.tmp")
  F[$key.wall]=$w; F[$key.user]=$u; F[$key.sys]=$s; F[$key.rss]=$m; F[$key.rc]=$rc
  F[$key.cpu]=$(awk -v u="$u" -v s="$s" 'BEGIN {printf "%.2f", u + s}')
  printf '  %-28s exit %-2s wall %6.2f s  cpu %6.2f s  peak RSS %7s kB\n' "$key" "$rc" "$w" "${F[$key.cpu]}" "$m"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "nan"; else printf "%.2f", a / b }'; }
warm() { find "$1" -type f -print0 | xargs -0 -r cat > /dev/null; }

# aide_conf DIR TREE : AIDE's config for TREE, databases in DIR (the peer script's config)
aide_conf() {
  cat > "$1/aide.conf" <<EOF
database_in=file:$1/aide.db
database_out=file:$1/aide.db.new
database_attrs=sha256
gzip_dbout=false
root_prefix=$2
report_url=stdout
report_level=changed_attributes
log_level=warning
R = p+u+g+s+m+i+sha256
/ R
EOF
}
# sa_conf DIR TREE : secureagent's config and rules for TREE, baseline in DIR/db (0700)
sa_conf() {
  printf 'R = p+u+g+s+m+i+sha256\n/ R\n' > "$1/rules"
  cat > "$1/secureagent.conf" <<EOF
rules = "$1/rules"
database = "$1/db/baseline.db"
root_prefix = "$2"
workers = $WORKERS
log_level = "warn"
nice = 0
io_class = "best-effort"
max_read_mib_s = 0
polaris = ""
EOF
}

# the peer script's 14 changes (peers/aide.sh, same picks, same order)
apply_changes() {
  local TREE=$1 M k f sz off b nb m d p
  mapfile -t CAND < <(cd "$TREE" && find . -type f -links 1 -size +63c -printf '%P\n' | grep -E '^[A-Za-z0-9._/+-]+$' | sort)
  M=${#CAND[@]}
  [ "$M" -ge 20 ] || { echo "too few candidate files ($M)"; exit 1; }
  pick() { echo "${CAND[$(( (2 * $1 + 1) * M / 20 ))]}"; }
  for k in 0 1 2; do f=$(pick $k); printf 'peer-aide: appended line %d\n' "$k" >> "$TREE/$f"; done
  for k in 3 4; do
    f=$(pick $k); sz=$(stat -c %s "$TREE/$f"); off=$((sz / 2))
    cp -p "$TREE/$f" "$WORK/ref"
    b=$(dd if="$TREE/$f" bs=1 skip=$off count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
    nb=$(( (b + 1) % 256 ))
    printf "\\$(printf '%03o' "$nb")" | dd of="$TREE/$f" bs=1 seek=$off conv=notrunc status=none
    touch -r "$WORK/ref" "$TREE/$f"; rm -f "$WORK/ref"
  done
  for k in 5 6 7; do f=$(pick $k); m=$(stat -c %a "$TREE/$f"); chmod "$(printf '%o' $(( 8#$m ^ 8#002 )))" "$TREE/$f"; done
  for k in 8 9; do f=$(pick $k); rm -f "$TREE/$f"; done
  for k in 0 1 2 3; do
    d=$(dirname "$(pick $k)"); [ "$d" = . ] && d=""
    p="${d:+$d/}peer-aide-added-$k.txt"
    printf 'peer-aide: added file %d\n' "$k" > "$TREE/$p"
  done
}

# the summary counts (added removed changed) of a text report (AIDE's and secureagent's alike)
counts() { awk -F'\t+' '/^ +Added entries:/ {a = $2} /^ +Removed entries:/ {r = $2} /^ +Changed entries:/ {c = $2} END {print a + 0, r + 0, c + 0}' "$1"; }

# one_tree LABEL TREE : both tools, --init then the 14 changes then --check
one_tree() {
  local label=$1 tree=$2 ad="$WORK/$1.aide" sd="$WORK/$1.sa"
  mkdir -p "$ad" "$sd"
  aide_conf "$ad" "$tree"; sa_conf "$sd" "$tree"
  F[$label.entries]=$(find "$tree" -mindepth 1 | wc -l)
  F[$label.mb]=$(find "$tree" -type f -printf '%s\n' | awk '{s += $1} END {printf "%.1f", s / 1e6}')
  echo "### $label: ${F[$label.entries]} entries, ${F[$label.mb]} MB of file content"
  warm "$tree"
  timed "$label.aide.init" "$ad/init.out" "$AIDE" --config="$ad/aide.conf" --init --workers="$WORKERS"
  mv "$ad/aide.db.new" "$ad/aide.db"
  timed "$label.sa.init" "$sd/init.out" "$SA" -C "$sd/secureagent.conf" --init
  for k in aide sa; do
    [ "${F[$label.$k.init.rc]}" = 0 ] || { echo "$label $k --init failed:"; tail -20 "$WORK/$label.$k/init.out"; exit 1; }
  done
  sleep 1.1   # every change in a later second than both baselines
  apply_changes "$tree"
  timed "$label.aide.check" "$ad/check.out" "$AIDE" --config="$ad/aide.conf" --check --workers="$WORKERS"
  timed "$label.sa.check" "$sd/check.out" "$SA" -C "$sd/secureagent.conf" --check
  F[$label.aide.counts]=$(counts "$ad/check.out")
  F[$label.sa.counts]=$(counts "$sd/check.out")
  echo "  added removed changed: AIDE ${F[$label.aide.counts]}, secureagent ${F[$label.sa.counts]}"
}

# ---------------------------------------------------------------- (a) copy of SOURCE
if [ "${SKIP_USR:-0}" != 1 ]; then
  [ -d "$SRC" ] || { echo "not a directory: $SRC" >&2; exit 2; }
  mkdir -p "$WORK/usr"; cp -a "$SRC/." "$WORK/usr/"
  one_tree usr "$WORK/usr"
  rm -rf "$WORK/usr"
fi

# ---------------------------------------------------------------- (b) the generated tree
if [ "${SKIP_GEN:-0}" != 1 ]; then
  mkdir -p "$WORK/gen"
  /usr/bin/python3 - "$WORK/gen" <<'EOF'
import os, random, sys
root = sys.argv[1]
rng = random.Random(20240601)
for d in range(200):
    dp = os.path.join(root, "d%03d" % d)
    os.makedirs(dp, exist_ok=True)
    for f in range(100):
        i = d * 100 + f
        size = 4 * 1024 * 1024 + rng.randint(0, 65536) if i % 400 == 0 else rng.randint(256, 32 * 1024)
        p = os.path.join(dp, "f%05d.bin" % i)
        with open(p, "wb") as fh:
            fh.write(rng.randbytes(size))
        os.utime(p, (1700000000 + i, 1700000000 + i))
    os.utime(dp, (1700000000, 1700000000))
EOF
  one_tree gen "$WORK/gen"
  rm -rf "$WORK/gen"
fi

# ---------------------------------------------------------------- (c) one flat folder
if [ "${SKIP_FLAT:-0}" != 1 ]; then
  echo "### flat: one folder of N files of 100 bytes"
  for n in $FLAT_SIZES; do
    fd="$WORK/flat$n"; mkdir -p "$fd/t" "$fd/sa" "$fd/aide"
    /usr/bin/python3 - "$fd/t" "$n" <<'EOF'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    with open(os.path.join(root, "f%d" % i), "w") as fh:
        fh.write("%0100d" % i)
EOF
    sa_conf "$fd/sa" "$fd/t"
    timed "flat$n.sa.init" "$fd/sa/init.out" "$SA" -C "$fd/sa/secureagent.conf" --init
    timed "flat$n.sa.check" "$fd/sa/check.out" "$SA" -C "$fd/sa/secureagent.conf" --check
    if [[ " $AIDE_FLAT " == *" $n "* ]]; then
      aide_conf "$fd/aide" "$fd/t"
      timed "flat$n.aide.init" "$fd/aide/init.out" "$AIDE" --config="$fd/aide/aide.conf" --init --workers="$WORKERS"
    fi
    rm -rf "$fd"
  done
fi

# ---------------------------------------------------------------- report
echo
echo "### P6: secureagent $S_VERSION against AIDE $A_VERSION ($(date -u +%Y-%m-%d), $CPU_MODEL, $(nproc) CPUs, load at the end $(cut -d' ' -f1-3 /proc/loadavg))"
echo
echo "| tree | step | AIDE wall s | secureagent wall s | ratio | AIDE CPU s | secureagent CPU s | ratio | AIDE peak RSS kB | secureagent peak RSS kB | ratio |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for t in usr gen; do
  [ -n "${F[$t.entries]:-}" ] || continue
  case $t in usr) name="copy of $SRC (${F[$t.entries]} entries, ${F[$t.mb]} MB)";; gen) name="generated (${F[$t.entries]} entries, ${F[$t.mb]} MB)";; esac
  for s in init check; do
    a="$t.aide.$s"; b="$t.sa.$s"
    echo "| $name | --$s | ${F[$a.wall]} | ${F[$b.wall]} | **$(ratio "${F[$a.wall]}" "${F[$b.wall]}")** | ${F[$a.cpu]} | ${F[$b.cpu]} | $(ratio "${F[$a.cpu]}" "${F[$b.cpu]}") | ${F[$a.rss]} | ${F[$b.rss]} | **$(ratio "${F[$a.rss]}" "${F[$b.rss]}")** |"
  done
done
if [ "${SKIP_FLAT:-0}" != 1 ]; then
  echo
  echo "| flat folder, N files | secureagent --init wall s (µs/entry) | CPU s | peak RSS kB | secureagent --check wall s (µs/entry) | CPU s | peak RSS kB | AIDE --init wall s (µs/entry) | CPU s | AIDE peak RSS kB |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  for n in $FLAT_SIZES; do
    i="flat$n.sa.init"; c="flat$n.sa.check"; a="flat$n.aide.init"
    per() { awk -v w="$1" -v n="$n" 'BEGIN {printf "%.1f", w * 1e6 / n}'; }
    aw="-"; ac="-"; ar="-"
    [ -n "${F[$a.wall]:-}" ] && { aw="${F[$a.wall]} ($(per "${F[$a.wall]}"))"; ac=${F[$a.cpu]}; ar=${F[$a.rss]}; }
    echo "| $n | ${F[$i.wall]} ($(per "${F[$i.wall]}")) | ${F[$i.cpu]} | ${F[$i.rss]} | ${F[$c.wall]} ($(per "${F[$c.wall]}")) | ${F[$c.cpu]} | ${F[$c.rss]} | $aw | $ac | $ar |"
  done
fi

echo
echo "=== FIGURES secureagent-vs-aide ==="
echo "aide_version: $A_VERSION"
echo "secureagent_version: $S_VERSION"
echo "cpu_model: $CPU_MODEL"
echo "nproc: $(nproc)"
echo "workers: $WORKERS"
for k in $(printf '%s\n' "${!F[@]}" | sort); do echo "$k: ${F[$k]}"; done
