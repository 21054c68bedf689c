#!/usr/bin/env bash
# layout/profile.sh -- regenerates the hot-code layouts (gearman.ld, nodus.ld, plugins.ld).
#
# Builds the agents and plugins in release, runs each agent under valgrind's callgrind through
# the work it does on a host, and writes the functions that ran into linker scripts that
# layout/build.rs hands to the linker (see layout/README.md). Needs valgrind (Debian package).
#   gearman: start with no reachable server (the link retries, as on a host whose server is
#            away), daemon.init/start/status/list/restart/stop/remove of a packaged sleeper,
#            sync.bash, task.list, with the info plugins in its plugin directory.
#   nodus:   every read plugin, the csv and prometheus writers at a 1 s interval for 12 s,
#            nodusctl plugin list/stop/start and one scrape of /metrics.
# Run it again after large changes to an agent; a stale layout only means a larger resident
# set (bench/supervise-vs-supervisord.sh and bench/nodus-vs-collectd.sh show it).
set -euo pipefail
export LC_ALL=C
LAYOUT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$LAYOUT")
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }

PKGS=(-p gearman -p gearctl -p nodus -p nodusctl)
for d in "$REPO"/plugins/*/; do PKGS+=(-p "plugin-$(basename "$d")"); done
(cd "$REPO" && cargo build --release --quiet "${PKGS[@]}")
BIN="${CARGO_TARGET_DIR:-$REPO/target}/release"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/layout-profile.XXXXXX")
AGENT=""
cleanup() {
  if [ -n "$AGENT" ] && kill -0 "$AGENT" 2>/dev/null; then kill -TERM "$AGENT"; wait "$AGENT" || true; fi
  pkill -f "$WORK/pkg/sleeper.sh" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
callgrind() { # OUT CMD...
  local out=$1; shift
  valgrind --tool=callgrind --demangle=no --compress-strings=no --dump-instr=no \
    --callgrind-out-file="$out" "$@" 2>> "$WORK/valgrind.log" &
  AGENT=$!
}
wait_for() { for _ in $(seq 600); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done; "$@"; }
stop_agent() { kill -TERM "$AGENT"; wait "$AGENT" || true; AGENT=""; }

# ---------------------------------------------------------------- gearman
mkdir -p "$WORK/pkg" "$WORK/gplugins"
printf '#!/bin/sh\nexec /bin/sleep 100000\n' > "$WORK/pkg/sleeper.sh"
chmod 755 "$WORK/pkg/sleeper.sh"
tar czf "$WORK/sleeper-1.0.tar.gz" -C "$WORK/pkg" sleeper.sh
for p in cpu disks kernel memory network os processes swap users; do ln -s "$BIN/lib$p.so" "$WORK/gplugins/"; done
cat > "$WORK/gearman.conf" <<CONF
hostname = "layout"
server = "127.0.0.1:9"
tls_name = "config.cargo.com"
ca = "/etc/ssl/certs/ca-certificates.crt"
state_dir = "$WORK/state"
socket = "$WORK/gearman.sock"
CONF
ctl() { "$BIN/gearctl" -s "$WORK/gearman.sock" "$@" >/dev/null; }
GEARMAN_PLUGIN_DIR="$WORK/gplugins" callgrind "$WORK/cg.gearman" "$BIN/gearman" -f -C "$WORK/gearman.conf"
wait_for ctl -c daemon.list
ctl -c daemon.init -a "{\"name\":\"sleeper\",\"version\":\"1.0\",\"url\":\"file://$WORK/sleeper-1.0.tar.gz\",\"start\":\"./sleeper.sh\",\"stop\":\"kill:TERM\",\"start_delay\":1,\"check\":\"process\",\"check_interval\":2}"
ctl -c daemon.start -a sleeper
for _ in 1 2 3 4 5; do ctl -c daemon.list; ctl -c daemon.status -a sleeper; sleep 1; done
ctl -c sync.bash --cmd "echo layout"
ctl -c task.list
ctl -c daemon.restart -a sleeper
ctl -c daemon.stop -a sleeper
ctl -c daemon.remove -a sleeper
stop_agent

# ---------------------------------------------------------------- nodus
mkdir -p "$WORK/nplugins" "$WORK/csv"
READ=(cpu load memory swap interface df disk processes uptime)
for p in "${READ[@]}" csv prometheus; do ln -s "$BIN/lib$p.so" "$WORK/nplugins/$p.so"; done
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
{
  echo "hostname = \"layout\""; echo "interval = 1"; echo "plugin_dir = \"$WORK/nplugins\""
  echo "types_db = [\"$REPO/types.db\"]"; echo "socket = \"$WORK/nodus.sock\""
  for p in "${READ[@]}"; do echo "[plugin.$p]"; done
  echo "[plugin.csv.options]"; echo "DataDir = \"$WORK/csv\""
  echo "[plugin.prometheus.options]"; echo "Port = $PORT"
} > "$WORK/nodus.conf"
nctl() { "$BIN/nodusctl" -s "$WORK/nodus.sock" "$@" >/dev/null; }
callgrind "$WORK/cg.nodus" "$BIN/nodus" -f -C "$WORK/nodus.conf" -L "$WORK/nodus.log"
wait_for nctl plugin list
sleep 6
nctl plugin stop load; sleep 2; nctl plugin start load
python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/metrics', timeout=30).read()"
sleep 4
nctl plugin list
stop_agent

# ---------------------------------------------------------------- linker scripts
python3 "$LAYOUT/hot_functions.py" "$LAYOUT/gearman.ld" gearman "$WORK/cg.gearman"
python3 "$LAYOUT/hot_functions.py" "$LAYOUT/nodus.ld" nodus "$WORK/cg.nodus"
python3 "$LAYOUT/hot_functions.py" "$LAYOUT/plugins.ld" 'lib*.so' "$WORK/cg.gearman" "$WORK/cg.nodus"
