#!/usr/bin/env bash
# Builds every fuzz target and runs each for SECONDS (default 600), one after the other or
# N at a time (-j N), under `nice -n 19`, then prints a table: target, seconds, executions,
# exec/s, crashes (artefacts found), corpus size.
#
# Usage: fuzz/run.sh [-j N] [--no-build] [SECONDS_PER_TARGET] [TARGET...]
#        fuzz/run.sh --report [TARGET...]   (the table of the last runs, from fuzz/logs/)
#
# Works on the stable toolchain: RUSTC_BOOTSTRAP=1 lets it take cargo-fuzz's nightly flags
# (`cargo install cargo-fuzz` once). Corpora grow in fuzz/corpus/<target>/ (only the seed-*
# files are committed), crashes land in fuzz/artifacts/<target>/, logs in fuzz/logs/, and the
# table also goes to fuzz/logs/summary.md. Reproduce a crash with
# `fuzz/target/x86_64-unknown-linux-gnu/release/<target> fuzz/artifacts/<target>/crash-...`.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

jobs=1
build=1
report=0
while [[ $# -gt 0 ]]; do
    case $1 in
        -j) jobs=$2; shift 2 ;;
        -j*) jobs=${1#-j}; shift ;;
        --no-build) build=0; shift ;;
        --report) report=1; build=0; shift ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) break ;;
    esac
done
seconds=600
if [[ $report == 0 && $# -gt 0 ]]; then
    seconds=$1
    shift
fi
all=(cron_line types_db wire_agent wire_boot wire_control commands_body htpasswd
     package_path package_http tarball elf_check nodus_config enroll_csr
     proc_meminfo proc_net_dev proc_mounts proc_stat secureagent_schedule)
targets=("${@:-${all[@]}}")

bin_dir=$here/target/x86_64-unknown-linux-gnu/release
export RUSTC_BOOTSTRAP=1 HOT_LAYOUT=0
if [[ $build == 1 ]]; then
    nice -n 19 cargo fuzz build --debug-assertions >&2
fi
mkdir -p logs

# Per-target libFuzzer options: dictionaries and input sizes.
options() {
    case $1 in
        cron_line|secureagent_schedule) echo "-dict=dict/cron.dict" ;;
        wire_*|commands_body) echo "-dict=dict/json.dict" ;;
        package_http) echo "-dict=dict/http.dict" ;;
        tarball) echo "-max_len=20000" ;;
        enroll_csr) echo "-max_len=8192" ;;
        elf_check) echo "-max_len=16384" ;;
        types_db) echo "-max_len=32768" ;;
        proc_*) echo "-max_len=8192" ;;
    esac
}

run_one() {
    local target=$1 start end
    mkdir -p "corpus/$target" "artifacts/$target"
    start=$(date +%s)
    # shellcheck disable=SC2046
    nice -n 19 "$bin_dir/$target" $(options "$target") -max_total_time="$seconds" \
        -timeout=10 -print_final_stats=1 -artifact_prefix="artifacts/$target/" \
        "corpus/$target" > "logs/$target.log" 2>&1 || true
    end=$(date +%s)
    echo $((end - start)) > "logs/$target.seconds"
}

running=0
for target in "${targets[@]}"; do
    [[ $report == 1 ]] && break
    echo "fuzzing $target for ${seconds}s (log: fuzz/logs/$target.log)" >&2
    run_one "$target" &
    running=$((running + 1))
    if [[ $running -ge $jobs ]]; then
        wait -n || true
        running=$((running - 1))
    fi
done
wait

stat() { sed -n "s/^stat::$2: *//p" "logs/$1.log" | tail -1; }
{
    echo "| target | seconds | executions | exec/s | crashes | corpus (files) |"
    echo "|---|---:|---:|---:|---:|---:|"
    for target in "${targets[@]}"; do
        execs=$(stat "$target" number_of_executed_units)
        rate=$(stat "$target" average_exec_per_sec)
        crashes=$(find "artifacts/$target" -type f 2>/dev/null | wc -l)
        corpus=$(find "corpus/$target" -type f | wc -l)
        echo "| $target | $(cat "logs/$target.seconds") | ${execs:-?} | ${rate:-?} | $crashes | $corpus |"
    done
} | tee logs/summary.md
