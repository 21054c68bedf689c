#!/usr/bin/env bash
# bench/supervise-vs-supervisord.sh -- the supervisord scenario under Debian's supervisord 4.2
# and under gearman's daemon.* (the `supervise` engine), in one run, one after the other.
#
# Usage: bench/supervise-vs-supervisord.sh [OBSERVE_S=20] [STOP_AT_S=8]
#   KEEP=1 bench/supervise-vs-supervisord.sh ...   keeps gearman's temp dir.
#
# 1. Runs /work/shared/peers/supervisord.sh OBSERVE STOP_AT (it installs supervisor if missing)
#    and takes its FIGURES.
# 2. Builds gearman and gearctl (release), starts `gearman -f` with an unreachable server (the
#    link retries in the background; the local socket answers) and a state dir in a temp dir,
#    then runs the same three programs through `gearctl -c daemon.*`:
#      sleeper  : sleep 100000                                  -> running
#      crasher  : exits 3 at once, 3 retries                     -> backoff ... -> fatal
#      stubborn : SIGTERM ignored, stop kill:TERM, stop_timeout 5 -> stop at STOP_AT -> SIGKILL
#    polling `gearctl -c daemon.status` every ~0.25 s like the peer script polls supervisorctl.
# 3. Measures gearman the way the peer script measures supervisord: VmRSS at the end, VmHWM,
#    CPU (utime+stime ticks, 10 ms, and se.sum_exec_runtime over all threads, ns) before the
#    stop, while `daemon.stop stubborn` is waiting, and in 5 quiet seconds without clients;
#    time from the stop to the stubborn process being dead.
# Prints both FIGURES blocks and `=== FIGURES supervise-vs-supervisord ===` with the ratios
# (gearman / supervisord). Goals: RSS under a fifth of supervisord's; near-zero CPU while a
# stop waits. Stops only what it started, by PID.
set -euo pipefail
export LC_ALL=C

OBS="${1:-20}"
STOP_AT="${2:-8}"
case "$OBS$STOP_AT" in *[!0-9]*|"") echo "usage: $0 [OBSERVE_S] [STOP_AT_S] (integers)" >&2; exit 2;; esac
[ "$OBS" -ge $((STOP_AT + 7)) ] || { echo "need OBSERVE_S >= STOP_AT_S + 7 (stop_timeout is 5)" >&2; exit 2; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PEER=${PEER:-/work/shared/peers/supervisord.sh}
HZ=$(getconf CLK_TCK)

# ---------------------------------------------------------------- 1. supervisord
echo "### 1. supervisord ($PEER $OBS $STOP_AT)"
PEER_OUT=$(if [ -n "${PEER_OUT_FILE:-}" ]; then cat "$PEER_OUT_FILE"; else bash "$PEER" "$OBS" "$STOP_AT"; fi)
echo "$PEER_OUT" | sed -n '/=== FIGURES supervisord ===/,$p'
peer() { echo "$PEER_OUT" | awk -v k="$1:" '$1 == k {print $2}'; }

# ---------------------------------------------------------------- 2. gearman
echo
# BUILD_DIR=<folder> measures a build made elsewhere, e.g. the packaged (portable) one.
if [ -n "${BUILD_DIR:-}" ]; then
  echo "### 2. gearman daemon.* (the build in $BUILD_DIR)"
  RELEASE_DIR="$BUILD_DIR"
else
  echo "### 2. gearman daemon.* (building release binaries)"
  (cd "$REPO" && cargo build --release --quiet -p gearman -p gearctl)
  RELEASE_DIR="$REPO/target/release"
fi
GEARMAN="$RELEASE_DIR/gearman"
GEARCTL="$RELEASE_DIR/gearctl"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-supervise.XXXXXX")
GPID=""; STOPPER=""; WATCHER=""
cleanup() {
  local p
  for p in "$STOPPER" "$WATCHER"; do
    if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; fi
  done
  if [ -n "$GPID" ] && kill -0 "$GPID" 2>/dev/null; then
    for n in sleeper crasher stubborn; do "$GEARCTL" -s "$WORK/gearman.sock" -c daemon.remove -a "$n" >/dev/null 2>&1 || true; done
    kill -TERM "$GPID" 2>/dev/null || true
    wait "$GPID" 2>/dev/null || true
  fi
  # Daemons outlive gearman by design: end any left, by the pids of their run state.
  for f in "$WORK"/state/daemons/.supervise/*.json; do
    [ -e "$f" ] || continue
    p=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("pid") or "")' "$f" 2>/dev/null || true)
    [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true
  done
  if [ "${KEEP:-0}" = 1 ]; then echo "kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stat_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
sched_ms()   { cat /proc/"$1"/task/*/sched 2>/dev/null | awk '$1 == "se.sum_exec_runtime" {s += $3} END {printf "%.3f", s}'; }
status_kb()  { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
rel()        { awk -v a="$T0" -v b="$1" 'BEGIN{printf "%.3f", b - a}'; }
# Size of the binary's hot-code section (layout/README.md); 0 means it was linked without one.
hot_kb()     { readelf -SW "$1" | sed -n 's/.*\.text\.hot *PROGBITS *[0-9a-f]* [0-9a-f]* \([0-9a-f]*\) .*/\1/p' | { read -r h || true; echo $(( 0x${h:-0} / 1024 )); }; }
ctl()        { "$GEARCTL" -s "$WORK/gearman.sock" "$@"; }
field()      { python3 -c 'import json,sys; d=json.load(sys.stdin); print((d.get("data") or {}).get(sys.argv[1], ""))' "$1"; }

mkdir -p "$WORK/pkg"
printf '#!/bin/sh\nexec /bin/sleep 100000\n' > "$WORK/pkg/sleeper.sh"
printf '#!/bin/sh\necho crashing >&2\nexit 3\n' > "$WORK/pkg/crasher.sh"
printf '#!/bin/sh\ntrap "" TERM\nexec /bin/sleep 100000\n' > "$WORK/pkg/stubborn.sh"
chmod 755 "$WORK"/pkg/*.sh
tar czf "$WORK/scenario-1.0.tar.gz" -C "$WORK/pkg" sleeper.sh crasher.sh stubborn.sh
cat > "$WORK/gearman.conf" <<EOF
hostname = "peerbench"
server = "127.0.0.1:9"
tls_name = "config.cargo.com"
ca = "/etc/ssl/certs/ca-certificates.crt"
state_dir = "$WORK/state"
socket = "$WORK/gearman.sock"
backoff_max = 30
EOF

T0=$EPOCHREALTIME
GEARMAN_PLUGIN_DIR="$WORK/no-plugins" "$GEARMAN" -f -C "$WORK/gearman.conf" 2> "$WORK/gearman.log" &
GPID=$!
for ((i = 0; i < 300; i++)); do ctl -c daemon.list >/dev/null 2>&1 && break; sleep 0.02; done
ctl -c daemon.list >/dev/null || { echo "gearman did not answer"; cat "$WORK/gearman.log"; exit 1; }
T_SOCK=$EPOCHREALTIME

URL="file://$WORK/scenario-1.0.tar.gz"
init() { # name script stop_timeout
  ctl -c daemon.init -a "{\"name\":\"$1\",\"version\":\"1.0\",\"url\":\"$URL\",\"start\":\"./$2\",\"stop\":\"kill:TERM\",\"start_delay\":1,\"stop_timeout\":$3,\"check\":\"process\",\"check_interval\":10}" >/dev/null
}
init sleeper sleeper.sh 10; init crasher crasher.sh 10; init stubborn stubborn.sh 5
STARTERS=()
for n in sleeper crasher stubborn; do ctl -c daemon.start -a "$n" > /dev/null & STARTERS+=($!); done
wait "${STARTERS[@]}"

: > "$WORK/transitions.txt"
declare -A LAST=()
STOP_STARTED=""; STUB_PID=""; STOP_MS0=""; STOP_TICKS0=""; SCHED_BEFORE=""; T_BEFORE=""
while :; do
  now=$EPOCHREALTIME; t=$(rel "$now")
  if [ -z "$STOP_STARTED" ] && awk -v t="$t" -v s="$STOP_AT" 'BEGIN{exit !(t >= s)}'; then
    STUB_PID=$(ctl -c daemon.status -a stubborn | field pid)
    ( p=$STUB_PID; dead=""
      while [ -e "/proc/$p" ]; do
        if [ -z "$dead" ] && [ "$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f1)" = Z ]; then dead=$EPOCHREALTIME; fi
        sleep 0.005
      done
      gone=$EPOCHREALTIME; echo "${dead:-$gone} $gone" > "$WORK/stub_exit.txt" ) &
    WATCHER=$!
    STOP_STARTED=$EPOCHREALTIME; STOP_TICKS0=$(stat_ticks $GPID); STOP_MS0=$(sched_ms $GPID)
    SCHED_BEFORE=$STOP_MS0; T_BEFORE=$STOP_STARTED
    ( ctl -c daemon.stop -a stubborn > "$WORK/stop_out.txt" 2>&1
      echo "$? $EPOCHREALTIME $(stat_ticks $GPID) $(sched_ms $GPID)" > "$WORK/stop_done.txt" ) &
    STOPPER=$!
    echo "$(rel "$STOP_STARTED") -- gearctl -c daemon.stop -a stubborn issued (pid $STUB_PID)" >> "$WORK/transitions.txt"
  fi
  out=$(ctl -c daemon.list 2>&1 || true)
  ts=$(rel "$EPOCHREALTIME")
  while read -r name state; do
    [ -n "$name" ] || continue
    if [ "${LAST[$name]:-}" != "$state" ]; then
      echo "$ts $name ${LAST[$name]:-(none)} -> $state" >> "$WORK/transitions.txt"; LAST[$name]=$state
    fi
  done < <(echo "$out" | python3 -c 'import json,sys
d=json.load(sys.stdin)
for x in d.get("data") or []: print(x["name"], x["state"])' 2>/dev/null || true)
  if [ -n "$STOPPER" ] && [ -f "$WORK/stop_done.txt" ]; then wait "$STOPPER" || true; STOPPER=""; fi
  awk -v t="$ts" -v o="$OBS" 'BEGIN{exit !(t >= o)}' && break
  sleep 0.25
done
[ -z "$STOPPER" ] || { wait "$STOPPER" || true; STOPPER=""; }
[ -z "$WATCHER" ] || { wait "$WATCHER" || true; WATCHER=""; }

RSS_END=$(status_kb $GPID VmRSS); HWM=$(status_kb $GPID VmHWM); ANON=$(status_kb $GPID RssAnon); FILEB=$(status_kb $GPID RssFile); CPU_T=$(stat_ticks $GPID); SCHED_T=$(sched_ms $GPID)
T_OBS_END=$EPOCHREALTIME
QUIET_S=5; sleep "$QUIET_S"
CPU_Q=$(stat_ticks $GPID); SCHED_Q=$(sched_ms $GPID); T_Q=$EPOCHREALTIME
read -r STOP_RC STOP_DONE STOP_TICKS1 STOP_MS1 < "$WORK/stop_done.txt"
read -r STUB_DEAD STUB_GONE < "$WORK/stub_exit.txt"

echo "### state transitions seen by polling \`gearctl -c daemon.list\` (t = s since gearman start)"
sed 's/^/  /' "$WORK/transitions.txt"
echo
echo "=== FIGURES gearman-daemon ==="
G_STOP_S=$(awk -v a="$STOP_STARTED" -v b="$STOP_DONE" 'BEGIN{print b - a}')
G_STOP_MSPS=$(awk -v a="$STOP_MS0" -v b="$STOP_MS1" -v d="$G_STOP_S" 'BEGIN{printf "%.2f", (b - a) / d}')
G_STOP_TICK_MSPS=$(awk -v a="$STOP_TICKS0" -v b="$STOP_TICKS1" -v hz="$HZ" -v d="$G_STOP_S" 'BEGIN{printf "%.1f", (b - a) * 1000 / hz / d}')
G_QUIET_MSPS=$(awk -v a="$SCHED_T" -v b="$SCHED_Q" -v d="$(awk -v a="$T_OBS_END" -v b="$T_Q" 'BEGIN{print b - a}')" 'BEGIN{printf "%.2f", (b - a) / d}')
cat <<EOF
socket_ready_s: $(rel "$T_SOCK")
gearman_rss_end_kb: $RSS_END
gearman_rss_peak_vmhwm_kb: $HWM
gearman_rss_anon_kb: $ANON
gearman_rss_file_kb: $FILEB
gearman_text_hot_kb: $(hot_kb "$GEARMAN")
gearman_cpu_s: $(awk -v t="$CPU_T" -v hz="$HZ" 'BEGIN{printf "%.2f", t / hz}')
gearman_cpu_sched_ms_total: $SCHED_T
gearman_cpu_ms_per_s_before_stop_sched: $(awk -v a="$SCHED_BEFORE" -v d="$(rel "$T_BEFORE")" 'BEGIN{printf "%.2f", a / d}')
gearman_cpu_ms_per_s_while_stop_pending_ticks: $G_STOP_TICK_MSPS
gearman_cpu_ms_per_s_while_stop_pending_sched: $G_STOP_MSPS
gearman_cpu_ms_per_s_quiet_no_clients_sched: $G_QUIET_MSPS
stubborn_stop_to_dead_s: $(awk -v a="$STOP_STARTED" -v b="$STUB_DEAD" 'BEGIN{printf "%.3f", b - a}')
stubborn_stop_to_ctl_return_s: $(awk -v a="$STOP_STARTED" -v b="$STOP_DONE" 'BEGIN{printf "%.3f", b - a}')
stubborn_stop_timeout: 5
gearctl_stop_rc: $STOP_RC
crasher_final: $(ctl -c daemon.status -a crasher | field state) retries=$(ctl -c daemon.status -a crasher | field retries)
EOF

S_RSS=$(peer supervisord_rss_end_kb); S_HWM=$(peer supervisord_rss_peak_vmhwm_kb)
S_STOP=$(peer supervisord_cpu_ms_per_s_while_stop_rpc_pending)
echo
echo "=== FIGURES supervise-vs-supervisord ==="
cat <<EOF
rss_end_kb: gearman $RSS_END / supervisord $S_RSS = $(awk -v a="$RSS_END" -v b="$S_RSS" 'BEGIN{printf "%.3f", a / b}') (goal < 0.2)
rss_peak_kb: gearman $HWM / supervisord $S_HWM = $(awk -v a="$HWM" -v b="$S_HWM" 'BEGIN{printf "%.3f", a / b}')
cpu_ms_per_s_while_stop_waits: gearman $G_STOP_MSPS (sched) $G_STOP_TICK_MSPS (ticks) / supervisord $S_STOP (ticks)
cpu_ms_per_s_quiet: gearman $G_QUIET_MSPS / supervisord $(peer supervisord_cpu_ms_per_s_quiet_no_clients)
stubborn_stop_to_dead_s: gearman $(awk -v a="$STOP_STARTED" -v b="$STUB_DEAD" 'BEGIN{printf "%.3f", b - a}') / supervisord $(peer stubborn_stop_to_dead_s) (stop timeout 5 s both)
EOF
