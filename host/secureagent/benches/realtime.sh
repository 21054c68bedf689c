#!/usr/bin/env bash
# Real time, measured (issue 17 item 6): the release secureagent daemon watching a generated
# tree of DIRS folders x FILES files, in inotify and in fanotify mode. Prints, per mode: the
# time from start to "watching", the watches (inotify), CPU seconds and RSS (VmRSS and peak
# VmHWM) once watching and after N changes, and the delay from each change (a rewrite of one
# file) to its real-time report in the log (median and max; it includes the 1 s window).
# Usage: host/secureagent/benches/realtime.sh [DIRS] [FILES] [CHANGES]   (from the workspace)
set -euo pipefail
DIRS=${1:-20000}
FILES=${2:-5}
CHANGES=${3:-20}
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
nice -n 19 cargo build --release -q -p secureagent --manifest-path "$ROOT/Cargo.toml"
BIN="$ROOT/target/release/secureagent"
WORK=$(mktemp -d)
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT
PID=0
TREE="$WORK/tree"
python3 - "$TREE" "$DIRS" "$FILES" <<'EOF'
import os, sys
tree, dirs, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for d in range(dirs):
    p = os.path.join(tree, "rt", f"d{d // 100:04d}", f"e{d % 100:02d}")
    os.makedirs(p, exist_ok=True)
    for f in range(files):
        with open(os.path.join(p, f"f{f}"), "w") as fh:
            fh.write(f"{d} {f}\n")
EOF
printf '/ p+u+g+s+m+sha256\n' > "$WORK/rules"
echo "machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg) (shared with other work)"
echo "tree: $DIRS folders x $FILES files under /rt; $CHANGES changes per mode"
printf '%-9s %9s %8s %9s %9s %9s %9s %9s\n' mode start_s watches cpu_s rss_MB hwm_MB med_ms max_ms
for MODE in inotify fanotify; do
    rm -rf "$WORK/state" "$WORK/log"
    cat > "$WORK/conf" <<EOF
rules = "$WORK/rules"
database = "$WORK/state/baseline.db"
root_prefix = "$TREE"
schedule = "every 24h"
realtime = ["/rt"]
realtime_mode = "$MODE"
EOF
    "$BIN" -C "$WORK/conf" --init > /dev/null
    T0=$(date +%s.%N)
    "$BIN" -C "$WORK/conf" -f -L "$WORK/log" & PID=$!
    until grep -q "Real time: watching" "$WORK/log" 2>/dev/null; do sleep 0.05; done
    T1=$(date +%s.%N)
    WATCHES=$(grep -o '([0-9]* directories in all)' "$WORK/log" | tail -1 | tr -dc 0-9 || true)
    python3 - "$TREE" "$WORK/log" "$CHANGES" "$PID" "$MODE" "$T0" "$T1" "${WATCHES:--}" <<'EOF'
import os, sys, time, statistics
tree, log, changes, pid, mode, t0, t1, watches = sys.argv[1:9]
changes, pid = int(changes), int(pid)
delays = []
for i in range(changes):
    d = (i * 7919) % 20000
    path = f"/rt/d{d // 100:04d}/e{d % 100:02d}/f0"
    real = tree + path
    if not os.path.exists(real):
        continue
    start = time.time()
    with open(real, "a") as fh:
        fh.write(f"change {i}\n")
    needle = f"File: {path}\n"
    while True:
        with open(log) as fh:
            if needle in fh.read():
                break
        time.sleep(0.01)
    delays.append((time.time() - start) * 1000)
ticks = os.sysconf("SC_CLK_TCK")
stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
cpu = (int(stat[11]) + int(stat[12])) / ticks
status = dict(l.split(":", 1) for l in open(f"/proc/{pid}/status"))
rss = int(status["VmRSS"].split()[0]) / 1024
hwm = int(status["VmHWM"].split()[0]) / 1024
print(f"{mode:<9} {float(t1) - float(t0):9.2f} {watches:>8} {cpu:9.2f} {rss:9.1f} {hwm:9.1f} "
      f"{statistics.median(delays):9.0f} {max(delays):9.0f}")
EOF
    kill "$PID"; wait "$PID" || true
done
