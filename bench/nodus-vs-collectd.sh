#!/usr/bin/env bash
# bench/nodus-vs-collectd.sh -- Benchmark P1: nodus against Debian's collectd 5.12 on this machine.
#
# Usage: bench/nodus-vs-collectd.sh [DURATION_S=30] [INTERVAL_S=1]
#   KEEP=1 bench/nodus-vs-collectd.sh ...   keeps the temp dirs (configs, csv output, logs).
#
# One run measures both agents with the same read plugins (cpu, load, memory, interface, df,
# disk, processes, all at their defaults) and the csv writer (to a temp dir), the same
# interval, the same duration and the same fixed host name; nothing goes on the network
# (nodus's control socket is a unix socket in its temp dir). collectd runs first, then nodus
# (never both at once: the machine has 2 cores), each in the foreground in its own temp dir,
# measured by the same function (helpers and method taken from /work/shared/peers/collectd.sh):
#   - RSS: median of VmRSS sampled once a second over the second half of the run; VmHWM at the end.
#   - CPU: utime+stime ticks (/proc/PID/stat, 10 ms resolution) and the sum of
#     se.sum_exec_runtime over all threads (/proc/PID/task/*/sched, ns resolution), taken at the
#     end of the warm-up (3 intervals, at most half the run) and at the end of the run.
#   - cycles: lines of the csv load file; per-cycle CPU divides by the load lines whose time
#     stamp falls inside the measured window (the nominal window/interval is printed too).
#   - csv: series (files, date suffix ignored) per plugin, values per cycle, bytes per cycle.
# Prints a comparison table and a `=== FIGURES nodus-vs-collectd ===` block of `name: value`
# lines (ratios are nodus/collectd). Goals: nodus steady RSS <= collectd's; nodus CPU per cycle
# <= 0.5 x collectd's (judged on the ns-resolution sched figure; the tick figure is shown too).
# Installs collectd from Debian if missing (like the peer script); builds nodus and the
# plugins in release. Stops only the processes it started, by PID.
set -euo pipefail
export LC_ALL=C

DUR="${1:-30}"
INTERVAL="${2:-1}"
case "$DUR$INTERVAL" in *[!0-9]*|"") echo "usage: $0 [DURATION_S] [INTERVAL_S] (integers)" >&2; exit 2;; esac
[ "$INTERVAL" -ge 1 ] && [ "$DUR" -ge $((INTERVAL * 4)) ] || { echo "need INTERVAL>=1 and DURATION>=4*INTERVAL" >&2; exit 2; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HOSTNAME_FIXED="peerbench"
PLUGINS=(cpu load memory interface df disk processes)

# ---------------------------------------------------------------- install collectd (as peers/collectd.sh)
need_pkgs() {
  local missing=() p made_policy=0
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || { echo "need root to install: ${missing[*]}" >&2; exit 1; }
  # keep Debian's maintainer scripts from starting the packaged daemon with its default config
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; made_policy=1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  if [ -d /run/systemd/system ]; then systemctl disable --now collectd.service >/dev/null 2>&1 || true; fi
  return 0
}
need_pkgs collectd-core collectd

COLLECTD=$(command -v collectd || echo /usr/sbin/collectd)
C_TYPESDB=$(dpkg -L collectd-core | grep -E '/types\.db$' | head -1)
C_PLUGINDIR=$(dirname "$(dpkg -L collectd-core | grep -E '/collectd/cpu\.so$' | head -1)")
C_VERSION=$(dpkg-query -W -f='${Version}' collectd-core)
HZ=$(getconf CLK_TCK)

# ---------------------------------------------------------------- temp dirs, cleanup
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nodus-vs-collectd.XXXXXX")
PID=""
cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  if [ "${KEEP:-0}" = 1 ]; then echo "kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- build nodus (release, LTO)
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
BUILD_PKGS=(-p nodus)
for p in "${PLUGINS[@]}" csv; do BUILD_PKGS+=(-p "plugin-$p"); done
# BUILD_DIR=<folder> measures a build made elsewhere, e.g. the packaged (portable) one:
# BUILD_DIR=target/x86_64-unknown-linux-gnu/release after `cargo xtask dist`.
RELEASE_DIR="${BUILD_DIR:-$TARGET_DIR/release}"
if [ -n "${BUILD_DIR:-}" ]; then
  echo "### measuring the build in $BUILD_DIR (not building)"
else
  echo "### building nodus and plugins (cargo build --release ${BUILD_PKGS[*]})"
  if ! (cd "$REPO" && cargo build --release "${BUILD_PKGS[@]}") > "$WORK/build.log" 2>&1; then
    echo "cargo build failed:"; tail -40 "$WORK/build.log"; exit 1
  fi
  tail -1 "$WORK/build.log"
fi
NODUS="$RELEASE_DIR/nodus"
hot_kb() { readelf -SW "$1" | sed -n 's/.*\.text\.hot *PROGBITS *[0-9a-f]* [0-9a-f]* \([0-9a-f]*\) .*/\1/p' | { read -r h || true; echo $(( 0x${h:-0} / 1024 )); }; }
N_VERSION=$("$NODUS" --version 2>/dev/null | awk '{print $NF}')
N_TYPESDB="$REPO/types.db"

# ---------------------------------------------------------------- helpers (from peers/collectd.sh)
stat_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }          # utime+stime, clock ticks
sched_ms()   { cat /proc/"$1"/task/*/sched 2>/dev/null | awk '/se.sum_exec_runtime/ {s += $3} END {printf "%.3f", s}'; }
status_kb()  { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
median()     { sort -n | awk '{a[NR] = $1} END {if (NR == 0) {print "nan"; exit} if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
host_busy()  { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; exit}' /proc/stat; }  # busy total (ticks, all CPUs)
thread_ms()  { local t; for t in /proc/"$1"/task/*; do printf '%s %s %s\n' "${t##*/}" "$(tr ' ' _ < "$t/comm")" "$(awk '/se.sum_exec_runtime/ {print $3}' "$t/sched")"; done 2>/dev/null; }  # tid comm ms
calc()       { awk "BEGIN { $1 }" </dev/null; }                                      # calc 'printf "%.3f", 1/3'
ratio()      { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "nan"; else printf "%.3f", a / b }'; }

declare -A F   # figures: F[label.key]

# ---------------------------------------------------------------- configs
CD="$WORK/collectd"; ND="$WORK/nodus"
mkdir -p "$CD/base" "$CD/csv" "$ND/plugins" "$ND/csv"

cat > "$CD/collectd.conf" <<EOF
# Benchmark P1, collectd side: local collection, csv to a temp dir, nothing on the network
Hostname    "$HOSTNAME_FIXED"
FQDNLookup  false
BaseDir     "$CD/base"
PIDFile     "$CD/collectd.pid"
PluginDir   "$C_PLUGINDIR"
TypesDB     "$C_TYPESDB"
Interval    $INTERVAL
ReadThreads  5
WriteThreads 5

LoadPlugin logfile
<Plugin logfile>
  LogLevel  info
  File      STDOUT
  Timestamp true
  PrintSeverity true
</Plugin>

$(for p in "${PLUGINS[@]}"; do echo "LoadPlugin $p"; done)
LoadPlugin csv
<Plugin csv>
  DataDir   "$CD/csv"
  StoreRates false
</Plugin>
EOF

for p in "${PLUGINS[@]}" csv; do
  so="$RELEASE_DIR/libplugin_$p.so"
  [ -e "$so" ] || { echo "missing $so after the build" >&2; exit 1; }
  ln -s "$so" "$ND/plugins/$p.so"
done
cat > "$ND/nodus.conf" <<EOF
# Benchmark P1, nodus side: the same plugins, interval and host name as the collectd config
hostname = "$HOSTNAME_FIXED"
interval = $INTERVAL
plugin_dir = "$ND/plugins"
types_db = ["$N_TYPESDB"]
socket = "$ND/nodus.sock"
log_level = "info"

$(for p in "${PLUGINS[@]}"; do echo "[plugin.$p]"; done)

[plugin.csv.options]
DataDir = "$ND/csv"
StoreRates = false
EOF

echo "### collectd $C_VERSION ($COLLECTD) vs nodus $N_VERSION ($NODUS)"
echo "### interval=${INTERVAL}s duration=${DUR}s per agent, nproc=$(nproc), $(uname -r)"
for f in "$CD/collectd.conf" "$ND/nodus.conf"; do
  echo "### $(basename "$f") (temp paths shown as \$WORK)"
  sed "s#$WORK#\$WORK#g" "$f" | grep -v '^$'
done

# ---------------------------------------------------------------- measure one agent
# measure LABEL COMM DIR LOGFILES -- CMD...   (the same steps for both agents)
measure() {
  local label=$1 comm=$2 dir=$3 logs=$4; shift 5
  local s warm t0 t1 stop_t warm_epoch end_epoch warm_ticks warm_sched end_ticks end_sched
  local warm_threads rc=0 warm_host end_host
  warm=$((INTERVAL * 3)); [ "$warm" -gt $((DUR / 2)) ] && warm=$((DUR / 2))
  echo
  F[$label.load_before]=$(cut -d' ' -f1 /proc/loadavg)
  echo "### $label: foreground run for ${DUR}s (load before start: $(cut -d' ' -f1-3 /proc/loadavg))"
  t0=$EPOCHREALTIME
  "$@" > "$dir/run.log" 2>&1 &
  PID=$!
  sleep 0.2
  [ "$(cat /proc/$PID/comm 2>/dev/null)" = "$comm" ] || { echo "$label did not start:"; cat "$dir/run.log"; exit 1; }
  : > "$dir/rss.txt"
  for ((s = 1; s <= DUR; s++)); do
    sleep 1
    kill -0 "$PID" 2>/dev/null || { echo "$label exited early:"; cat "$dir/run.log"; exit 1; }
    echo "$s $(status_kb $PID VmRSS)" >> "$dir/rss.txt"
    if [ "$s" = "$warm" ]; then
      warm_ticks=$(stat_ticks $PID); warm_sched=$(sched_ms $PID); warm_epoch=$EPOCHREALTIME
      warm_threads=$(status_kb $PID Threads); warm_host=$(host_busy); thread_ms $PID > "$dir/threads_warm.txt"
    fi
  done
  end_ticks=$(stat_ticks $PID); end_sched=$(sched_ms $PID); end_epoch=$EPOCHREALTIME; end_host=$(host_busy)
  thread_ms $PID > "$dir/threads_end.txt"
  t1=$EPOCHREALTIME
  F[$label.hwm]=$(status_kb $PID VmHWM); F[$label.rss_end]=$(status_kb $PID VmRSS)
  F[$label.threads]=$(status_kb $PID Threads)
  F[$label.rss_anon]=$(status_kb $PID RssAnon); F[$label.rss_file]=$(status_kb $PID RssFile)
  # resident kB by mapping (file path, or [anon]/[heap]/[stack]...), for reading the RSS figure
  awk '/^[0-9a-f]+-[0-9a-f]+ / {m = (NF >= 6) ? $6 : "[anon]"} $1 == "Rss:" {r[m] += $2}
       END {for (m in r) if (r[m] > 0) printf "%8d kB  %s\n", r[m], m}' "/proc/$PID/smaps" | sort -rn > "$dir/smaps_rss.txt"
  kill -TERM "$PID"; wait "$PID" || rc=$?; stop_t=$EPOCHREALTIME; PID=""
  F[$label.stop_rc]=$rc
  F[$label.stop_s]=$(calc "printf \"%.3f\", $stop_t - $t1")
  echo "$label stopped with SIGTERM, exit code $rc, ${F[$label.stop_s]} s after the signal"

  F[$label.run_s]=$(calc "printf \"%.3f\", $t1 - $t0")
  F[$label.warm_s]=$warm
  # how busy the whole machine was during the window (all CPUs, this agent included): > a few %
  # means something else was running and the CPU figures are less trustworthy
  F[$label.host_busy_pct]=$(awk -v a="$warm_host" -v b="$end_host" 'BEGIN {split(a, x, " "); split(b, y, " "); t = y[2] - x[2]; if (t <= 0) print "nan"; else printf "%.1f", (y[1] - x[1]) * 100 / t}')
  F[$label.threads_warm]=$warm_threads
  F[$label.rss_first]=$(awk 'NR == 1 {print $2}' "$dir/rss.txt")
  F[$label.rss]=$(awk -v h=$((DUR / 2)) '$1 > h {print $2}' "$dir/rss.txt" | median)
  F[$label.cpu_total_s]=$(calc "printf \"%.2f\", $end_ticks / $HZ")
  F[$label.win_ticks]=$((end_ticks - warm_ticks))
  F[$label.win_sched_ms]=$(calc "printf \"%.3f\", $end_sched - $warm_sched")
  F[$label.win_s]=$(calc "printf \"%.3f\", $end_epoch - $warm_epoch")
  F[$label.win_cycles_nominal]=$(calc "printf \"%.1f\", ($end_epoch - $warm_epoch) / $INTERVAL")

  # csv output
  local root="$dir/csv/$HOSTNAME_FIXED" loads
  if [ ! -d "$root" ]; then
    F[$label.csv_ok]="no (no csv dir $HOSTNAME_FIXED)"; F[$label.series]=0; F[$label.cycles]=0; F[$label.win_cycles]=0
    F[$label.values]=0; F[$label.values_avg]=nan; F[$label.bytes]=nan; F[$label.lines_avg]=nan
  else
    loads=$(find "$root" -path '*/load/load-*' -type f -exec cat {} + 2>/dev/null | grep -v '^epoch' || true)
    F[$label.cycles]=$(printf '%s\n' "$loads" | grep -c . || true)
    F[$label.win_cycles]=$(printf '%s\n' "$loads" | awk -F, -v a="$warm_epoch" -v b="$end_epoch" 'NF > 1 && $1 > a && $1 <= b {n++} END {print n + 0}')
    # a series is a file without its -YYYY-MM-DD suffix (a run across midnight has two files)
    find "$root" -type f -exec awk -F, 'FNR == 1 {n = FILENAME; sub(/-[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]$/, "", n); print n, NF - 1}' {} + \
      | sed "s#^$root/##" | sort -u > "$dir/series.txt"
    F[$label.series]=$(wc -l < "$dir/series.txt")
    F[$label.values]=$(awk '{s += $2} END {print s + 0}' "$dir/series.txt")
    local lines values bytes
    lines=$(find "$root" -type f -exec cat {} + | grep -cv '^epoch' || true)
    values=$(find "$root" -type f -exec cat {} + | awk -F, '!/^epoch/ {s += NF - 1} END {print s + 0}')
    bytes=$(find "$root" -type f -exec cat {} + | wc -c)
    F[$label.lines_avg]=$(ratio "$lines" "${F[$label.cycles]}")
    F[$label.values_avg]=$(ratio "$values" "${F[$label.cycles]}")
    F[$label.bytes]=$(calc "c = ${F[$label.cycles]}; if (c == 0) print \"nan\"; else printf \"%.0f\", $bytes / c")
    local missing=() p
    for p in "${PLUGINS[@]}"; do
      F[$label.series.$p]=$(awk -v p="$p" '{d = $1; sub(/\/.*/, "", d); sub(/-.*/, "", d)} d == p {n++} END {print n + 0}' "$dir/series.txt")
      [ "${F[$label.series.$p]}" -gt 0 ] || missing+=("$p")
    done
    if [ "${F[$label.cycles]}" -lt 1 ]; then F[$label.csv_ok]="no (no load lines)"
    elif [ ${#missing[@]} -gt 0 ]; then F[$label.csv_ok]="no (no series from: ${missing[*]})"
    else F[$label.csv_ok]=yes; fi
  fi
  # per-cycle CPU: divide by the load lines inside the window (nominal count if there are none)
  local cyc=${F[$label.win_cycles]}
  [ "$cyc" -gt 0 ] || cyc=${F[$label.win_cycles_nominal]}
  F[$label.cpu_ticks_cycle]=$(calc "printf \"%.3f\", ${F[$label.win_ticks]} * 1000 / $HZ / $cyc")
  F[$label.cpu_sched_cycle]=$(calc "printf \"%.3f\", ${F[$label.win_sched_ms]} / $cyc")
  F[$label.cpu_pct]=$(calc "printf \"%.3f\", ${F[$label.win_sched_ms]} / 10 / ${F[$label.win_s]}")

  # problems in the logs
  local f
  : > "$dir/problems.txt"
  for f in $logs; do
    [ -f "$f" ] && grep -E '\[(error|warning)\]|(^|[[:space:]])(ERROR|WARN)[[:space:]]|[Ee]rror|failed|[Cc]ould not|[Cc]annot' "$f" >> "$dir/problems.txt" || true
  done
  F[$label.log_problems]=$(wc -l < "$dir/problems.txt")
  echo "### $label resident memory at the end by mapping (top 10; RssAnon ${F[$label.rss_anon]} kB, RssFile ${F[$label.rss_file]} kB)"
  sed "s#$WORK#\$WORK#g" "$dir/smaps_rss.txt" | head -10
  echo "### $label CPU by thread over the window (ms per cycle; threads are named by the agent)"
  awk -v c="$cyc" 'NR == FNR {w[$1] = $3; next} {d = $3 - w[$1]; printf "  %-16s %8.3f\n", $2, d / c}' \
    "$dir/threads_warm.txt" "$dir/threads_end.txt" | sort -k2,2nr
  echo "### $label log (first 25 lines)"
  for f in $logs; do [ -f "$f" ] && sed "s#$WORK#\$WORK#g" "$f" | head -25; done
  if [ "${F[$label.log_problems]}" -gt 0 ]; then
    echo "### $label log: ${F[$label.log_problems]} error/warning lines (first 20)"
    sed "s#$WORK#\$WORK#g" "$dir/problems.txt" | head -20
  fi
}

# ---------------------------------------------------------------- config tests
set +e
C_T_OUT=$(cd "$CD" && "$COLLECTD" -t -C "$CD/collectd.conf" 2>&1); C_T_RC=$?
N_T_OUT=$(cd "$ND" && "$NODUS" -t -C "$ND/nodus.conf" 2>&1); N_T_RC=$?
set -e
echo
echo "### collectd -t: exit code $C_T_RC${C_T_OUT:+, output: $C_T_OUT}"
echo "### nodus -t: exit code $N_T_RC, output: $(printf '%s' "$N_T_OUT" | sed "s#$WORK#\$WORK#g" | tr '\n' ' ')"
rm -rf "$CD/csv" "$CD/base"; mkdir -p "$CD/csv" "$CD/base"

# ---------------------------------------------------------------- the two runs, one after the other
measure collectd collectd "$CD" "$CD/run.log" -- "$COLLECTD" -f -C "$CD/collectd.conf"
sleep 2   # let collectd's exit settle before nodus starts
measure nodus nodus "$ND" "$ND/run.log $ND/nodus.log" -- "$NODUS" -f -C "$ND/nodus.conf" -L "$ND/nodus.log"

# ---------------------------------------------------------------- csv example lines
echo
echo "### csv: one example line per plugin (collectd / nodus)"
declare -A PREF=([cpu]='^cpu-0/cpu-user' [load]='^load/load' [memory]='^memory/memory-used' [interface]='/if_octets'
  [df]='^df-root/df_complex-used' [disk]='/disk_octets' [processes]='^processes/ps_state-running')
for p in "${PLUGINS[@]}"; do
  for d in "$CD" "$ND"; do
    s=$(awk -v p="$p" '{d = $1; sub(/\/.*/, "", d); sub(/-.*/, "", d)} d == p {print $1}' "$d/series.txt" 2>/dev/null | grep -E "${PREF[$p]}" | head -1 || true)
    [ -n "$s" ] || s=$(awk -v p="$p" '{d = $1; sub(/\/.*/, "", d); sub(/-.*/, "", d)} d == p {print $1}' "$d/series.txt" 2>/dev/null | head -1 || true)
    [ -n "$s" ] || { printf '  %-9s %-8s (none)\n' "$p" "$(basename "$d")"; continue; }
    f=$(ls "$d/csv/$HOSTNAME_FIXED/$s"-* 2>/dev/null | tail -1)
    printf '  %-9s %-8s %-40s %s | %s\n' "$p" "$(basename "$d")" "$s" "$(head -1 "$f")" "$(tail -1 "$f")"
  done
done
echo "### series only one agent wrote"
diff <(awk '{print $1}' "$CD/series.txt" 2>/dev/null) <(awk '{print $1}' "$ND/series.txt" 2>/dev/null) \
  | awk '/^</ {print "  collectd only: " $2} /^>/ {print "  nodus only:    " $2}' | head -30 || true

# ---------------------------------------------------------------- table and figures
RSS_RATIO=$(ratio "${F[nodus.rss]}" "${F[collectd.rss]}")
HWM_RATIO=$(ratio "${F[nodus.hwm]}" "${F[collectd.hwm]}")
CPU_RATIO=$(ratio "${F[nodus.cpu_sched_cycle]}" "${F[collectd.cpu_sched_cycle]}")
CPU_RATIO_TICKS=$(ratio "${F[nodus.cpu_ticks_cycle]}" "${F[collectd.cpu_ticks_cycle]}")
yesno() { awk -v a="$1" -v b="$2" 'BEGIN { print (a != "nan" && a + 0 <= b + 0) ? "yes" : "no" }'; }
GOAL_RSS=$(yesno "${F[nodus.rss]}" "${F[collectd.rss]}")
GOAL_CPU=$(yesno "$CPU_RATIO" 0.5)
GOAL_CPU_TICKS=$(yesno "$CPU_RATIO_TICKS" 0.5)

row() { printf '%-34s %14s %14s %10s\n' "$1" "$2" "$3" "${4:-}"; }
echo
echo "### nodus vs collectd (interval ${INTERVAL}s, ${DUR}s each, warm-up ${F[collectd.warm_s]}s; ratio = nodus/collectd)"
row metric collectd nodus ratio
row "RSS steady median (kB)" "${F[collectd.rss]}" "${F[nodus.rss]}" "$RSS_RATIO"
row "RSS peak VmHWM (kB)" "${F[collectd.hwm]}" "${F[nodus.hwm]}" "$HWM_RATIO"
row "RSS end: anon / file (kB)" "${F[collectd.rss_anon]} / ${F[collectd.rss_file]}" "${F[nodus.rss_anon]} / ${F[nodus.rss_file]}"
row "RSS first sample (kB)" "${F[collectd.rss_first]}" "${F[nodus.rss_first]}" "$(ratio "${F[nodus.rss_first]}" "${F[collectd.rss_first]}")"
row "CPU ms/cycle steady (sched)" "${F[collectd.cpu_sched_cycle]}" "${F[nodus.cpu_sched_cycle]}" "$CPU_RATIO"
row "CPU ms/cycle steady (ticks)" "${F[collectd.cpu_ticks_cycle]}" "${F[nodus.cpu_ticks_cycle]}" "$CPU_RATIO_TICKS"
row "CPU ticks in window" "${F[collectd.win_ticks]}" "${F[nodus.win_ticks]}"
row "CPU % of one core (window)" "${F[collectd.cpu_pct]}" "${F[nodus.cpu_pct]}"
row "CPU total incl. start-up (s)" "${F[collectd.cpu_total_s]}" "${F[nodus.cpu_total_s]}"
row "machine busy % in window (all)" "${F[collectd.host_busy_pct]}" "${F[nodus.host_busy_pct]}"
row "cycles in window (load csv)" "${F[collectd.win_cycles]}" "${F[nodus.win_cycles]}"
row "cycles in load csv (whole run)" "${F[collectd.cycles]}" "${F[nodus.cycles]}"
row "threads" "${F[collectd.threads]}" "${F[nodus.threads]}"
row "csv series" "${F[collectd.series]}" "${F[nodus.series]}"
for p in "${PLUGINS[@]}"; do row "  series: $p" "${F[collectd.series.$p]:-0}" "${F[nodus.series.$p]:-0}"; done
row "csv values per cycle (series DS)" "${F[collectd.values]}" "${F[nodus.values]}"
row "csv values per cycle (avg)" "${F[collectd.values_avg]}" "${F[nodus.values_avg]}"
row "csv bytes per cycle" "${F[collectd.bytes]}" "${F[nodus.bytes]}"
row "log error/warning lines" "${F[collectd.log_problems]}" "${F[nodus.log_problems]}"
row "exit code after SIGTERM" "${F[collectd.stop_rc]}" "${F[nodus.stop_rc]}"

echo
echo "=== FIGURES nodus-vs-collectd ==="
{
  echo "collectd_version: $C_VERSION"
  echo "nodus_version: $N_VERSION"
  echo "interval_s: $INTERVAL"
  echo "duration_s_each: $DUR"
  echo "warmup_s: ${F[collectd.warm_s]}"
  echo "nproc: $(nproc)"
  echo "collectd_config_test_rc: $C_T_RC"
  echo "nodus_config_test_rc: $N_T_RC"
  # Hot-code sections (layout/README.md) of nodus and its csv plugin; 0 means linked without one.
  echo "nodus_text_hot_kb: $(hot_kb "$NODUS")"
  echo "nodus_csv_plugin_text_hot_kb: $(hot_kb "$RELEASE_DIR/libplugin_csv.so")"
  for l in collectd nodus; do
    echo "${l}_run_s: ${F[$l.run_s]}"
    echo "${l}_threads: ${F[$l.threads]}"
    echo "${l}_rss_first_kb: ${F[$l.rss_first]}"
    echo "${l}_rss_steady_median_kb: ${F[$l.rss]}"
    echo "${l}_rss_end_kb: ${F[$l.rss_end]}"
    echo "${l}_rss_peak_vmhwm_kb: ${F[$l.hwm]}"
    echo "${l}_rss_end_anon_kb: ${F[$l.rss_anon]}"
    echo "${l}_rss_end_file_kb: ${F[$l.rss_file]}"
    echo "${l}_cpu_total_s: ${F[$l.cpu_total_s]}"
    echo "${l}_window_s: ${F[$l.win_s]}"
    echo "${l}_window_cycles_nominal: ${F[$l.win_cycles_nominal]}"
    echo "${l}_window_cycles_seen_in_load_csv: ${F[$l.win_cycles]}"
    echo "${l}_window_cpu_ticks: ${F[$l.win_ticks]}"
    echo "${l}_window_cpu_sched_ms: ${F[$l.win_sched_ms]}"
    echo "${l}_cpu_ms_per_cycle_steady: ${F[$l.cpu_ticks_cycle]}"
    echo "${l}_cpu_ms_per_cycle_steady_sched: ${F[$l.cpu_sched_cycle]}"
    echo "${l}_cpu_percent_of_one_core: ${F[$l.cpu_pct]}"
    echo "${l}_loadavg_1m_before: ${F[$l.load_before]}"
    echo "${l}_machine_busy_percent_in_window: ${F[$l.host_busy_pct]}"
    echo "${l}_cycles_seen_in_load_csv: ${F[$l.cycles]}"
    echo "${l}_csv_ok: ${F[$l.csv_ok]}"
    echo "${l}_csv_series: ${F[$l.series]}"
    echo "${l}_csv_values_per_cycle_steady: ${F[$l.values]}"
    echo "${l}_csv_values_per_cycle_avg: ${F[$l.values_avg]}"
    echo "${l}_csv_lines_per_cycle_avg: ${F[$l.lines_avg]}"
    echo "${l}_csv_bytes_per_cycle: ${F[$l.bytes]}"
    echo "${l}_log_error_warning_lines: ${F[$l.log_problems]}"
    echo "${l}_stop_exit_code: ${F[$l.stop_rc]}"
  done
  echo "rss_ratio: $RSS_RATIO"
  echo "rss_peak_ratio: $HWM_RATIO"
  echo "cpu_ratio: $CPU_RATIO"
  echo "cpu_ratio_ticks: $CPU_RATIO_TICKS"
  echo "goal_rss_le_collectd_met: $GOAL_RSS"
  echo "goal_cpu_le_half_collectd_met: $GOAL_CPU"
  echo "goal_cpu_le_half_collectd_met_ticks: $GOAL_CPU_TICKS"
}
[ "${F[collectd.csv_ok]}" = yes ] && [ "${F[nodus.csv_ok]}" = yes ] || { echo "csv check failed" >&2; exit 1; }
