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
#   fleet:   the seed's flow under `polaris dev` (release), as on a host in service: the
#            bootagent reports, installs gearman and nodus from Polaris's packages and runs them;
#            gearman, linked to Polaris over TLS, runs sync.bash, async.bash, getinfo.* and
#            daemon.* sent through the commands API; nodus posts its values with the http writer.
# Run it again after large changes to an agent; a stale layout only means a larger resident
# set (bench/supervise-vs-supervisord.sh and bench/nodus-vs-collectd.sh show it).
set -euo pipefail
export LC_ALL=C
LAYOUT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$LAYOUT")
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }

PKGS=(-p gearman -p gearctl -p nodus -p nodusctl -p polaris -p bootagent)
for d in "$REPO"/plugins/*/; do PKGS+=(-p "plugin-$(basename "$d")"); done
# Built in the compiler's order: valgrind names no function of a `.text.hot` section.
(cd "$REPO" && HOT_LAYOUT=0 cargo build --release --quiet "${PKGS[@]}")
BIN="${CARGO_TARGET_DIR:-$REPO/target}/release"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/layout-profile.XXXXXX")
AGENT=""; DEV=""
cleanup() {
  local p
  for p in "$AGENT" "$DEV"; do
    if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then kill -TERM "$p"; wait "$p" || true; fi
  done
  # A daemon outlives gearman by design: end the sleeper if the run stopped half-way.
  for f in "$WORK"/state/daemons/.supervise/*.json "$WORK"/dev/state/*/daemons/.supervise/*.json; do
    [ -e "$f" ] || continue
    p=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("pid") or "")' "$f" 2>/dev/null || true)
    [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
# Mangled names (what the linker scripts need), one name per line.
CALLGRIND="valgrind --tool=callgrind --demangle=no --compress-strings=no --dump-instr=no"
callgrind() { # OUT CMD...
  local out=$1; shift
  $CALLGRIND --callgrind-out-file="$out" "$@" 2>> "$WORK/valgrind.log" &
  AGENT=$!
}
wait_for() { for _ in $(seq 600); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done; "$@"; }
stop_agent() { kill -TERM "$AGENT"; wait "$AGENT" || true; AGENT=""; }

# ---------------------------------------------------------------- gearman
mkdir -p "$WORK/pkg" "$WORK/gplugins"
printf '#!/bin/sh\nexec /bin/sleep 100000\n' > "$WORK/pkg/sleeper.sh"
chmod 755 "$WORK/pkg/sleeper.sh"
tar czf "$WORK/sleeper-1.0.tar.gz" -C "$WORK/pkg" sleeper.sh
for p in cpu disks kernel memory network os processes swap users; do ln -s "$BIN/libplugin_$p.so" "$WORK/gplugins/$p.so"; done
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
for p in "${READ[@]}" csv prometheus; do ln -s "$BIN/libplugin_$p.so" "$WORK/nplugins/$p.so"; done
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

# ---------------------------------------------------------------- fleet: under polaris dev
# `polaris dev` packs and starts the agents found beside its executable: a copy of it sits
# beside mkpkg, the plugins and three wrappers that run the real agents under callgrind (the
# packages hold the wrappers of gearman and nodus, which the bootagent installs and starts).
mkdir -p "$WORK/dev/bin"
cp "$BIN/polaris" "$WORK/dev/bin/"
ln -s "$BIN/mkpkg" "$BIN"/libplugin_*.so "$WORK/dev/bin/"
for a in bootagent gearman nodus; do
  printf '#!/bin/sh\nexec %s --callgrind-out-file=%s %s "$@" 2>>%s\n' \
    "$CALLGRIND" "$WORK/cg.dev.$a" "$BIN/$a" "$WORK/valgrind.log" > "$WORK/dev/bin/$a"
  chmod 755 "$WORK/dev/bin/$a"
done
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
API=$(free_port); AGENTS=$(free_port)
(cd "$WORK/dev" && exec bin/polaris dev --dir state --listen "127.0.0.1:$API" --agents-listen "127.0.0.1:$AGENTS") > "$WORK/dev.log" 2>&1 &
DEV=$!
python3 - "$API" "$WORK/dev/state/admin_token" "$(cat /proc/sys/kernel/hostname)" "file://$WORK/sleeper-1.0.tar.gz" <<'PY'
import json, sys, time, urllib.request
api, token_file, host, url = sys.argv[1:]
def call(body):
    token = open(token_file).read().strip()
    req = urllib.request.Request(f"http://127.0.0.1:{api}/api/v1/commands", json.dumps(dict(hosts=[host], **body)).encode(),
                                 {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    entry = json.load(urllib.request.urlopen(req, timeout=120))["response"][0]
    if entry.get("resp") != "success":
        raise RuntimeError(f"{body['method']}: {entry}")
    return entry
deadline = time.time() + 600
while True:  # until gearman is installed and linked (slow under callgrind)
    try:
        call({"method": "sync.bash", "cmd": "uptime"}); break
    except Exception:
        if time.time() > deadline: raise
        time.sleep(1)
call({"method": "async.bash", "cmd": "sleep 1"})
call({"method": "task.list"})
for info in ("kernel", "os", "cpu", "memory", "users"):
    call({"method": f"getinfo.{info}"})
call({"method": "daemon.init", "name": "sleeper", "version": "1.0", "url": url, "start": "./sleeper.sh",
      "stop": "kill:TERM", "start_delay": 1, "check": "process", "check_interval": 2})
for method in ("daemon.start", "daemon.status", "daemon.list", "daemon.stop", "daemon.remove"):
    call({"method": method, "args": "sleeper" if method != "daemon.list" else None})
time.sleep(25)  # nodus (interval 10 s) posts a few times
PY
# The agents first (a clean exit writes the profile), then the server.
pkill -TERM -f "callgrind-out-file=$WORK/cg.dev." || true
for _ in $(seq 300); do pgrep -f "callgrind-out-file=$WORK/cg.dev." >/dev/null || break; sleep 0.1; done
kill -TERM "$DEV"; wait "$DEV" || true; DEV=""

# ---------------------------------------------------------------- linker scripts
python3 "$LAYOUT/hot_functions.py" "$LAYOUT/gearman.ld" gearman "$WORK/cg.gearman" "$WORK/cg.dev.gearman"
python3 "$LAYOUT/hot_functions.py" "$LAYOUT/nodus.ld" nodus "$WORK/cg.nodus" "$WORK/cg.dev.nodus"
python3 "$LAYOUT/hot_functions.py" "$LAYOUT/bootagent.ld" bootagent "$WORK/cg.dev.bootagent"
python3 "$LAYOUT/hot_functions.py" "$LAYOUT/plugins.ld" 'libplugin_*.so' "$WORK"/cg.*
echo "now build again (cargo build --release) to link with them"

