#!/usr/bin/env bash
# The GPU check, run ON the device machine (the `device` tool) from the repository root, after
# `bench/device_pack.py` packed `.device/` here:
#
#   run(command="bash bench/device_run.sh 5", carry=[".device"], timeout_s=590)
#
# It installs the packed wheels and this project, prints the card, runs the ELPV rows of bench/bench_peers.py
# (frozen features + LogisticRegression, then `advisor auto` with BUDGET minutes, default 5) on
# the packed split, then the runners' tests on the GPU (`tests/runners`, at most TEST_SECONDS,
# default 90), and leaves the log, the `advisor auto` report, the card's name and the image
# loader's speed with 0 and 8 worker processes (`bench/bench_loader.py`) under $OUT.
#
# Why 5 minutes and not the 10: a session has 15 minutes of device time, a machine takes
# 1-2 of them to start, and one command at most 10. The frozen row takes under a minute there and
# `advisor auto` may end 5% past its budget, so a 5-minute budget ends in about 7 minutes and
# leaves time to run it once more if the first try breaks. The budget goes in the table's header.
#
# PY (default python3, the device's) and INSTALL_WHEELS=0 let it be tried on this CPU with the
# project's environment (bench/device_pack.py's docstring has the dry run).
set -uo pipefail
BUDGET=${1:-5}
PY=${PY:-python3}
INSTALL_WHEELS=${INSTALL_WHEELS:-1}
TEST_SECONDS=${TEST_SECONDS:-90}
OUT=${OUT:-/tmp/device-out}
mkdir -p "$OUT"
if [ ! -f .device/pack.json ]; then
    echo "no .device/pack.json: run bench/device_pack.py here first and carry .device" >&2
    exit 2
fi
start=$(date +%s)
# The project is installed, not run from the tree: its rules/ become the package `advisor._rules`
# only then. The packed setuptools builds it (no index there, so no build isolation).
export PYTHONPATH="/tmp/site:$PWD/.device/site" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
if [ "$INSTALL_WHEELS" = 1 ]; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .device/whl/*.whl \
        || { echo "installing the packed wheels failed" >&2; exit 3; }
    "$PY" -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --no-cache-dir --upgrade \
        --target /tmp/site . || { echo "installing this project failed" >&2; exit 3; }
fi
export MPLBACKEND=Agg
{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    "$PY" -c 'import sys, torch; print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")'
    nproc
    cat .device/pack.json
} 2>&1 | tee "$OUT/device.txt"
task=$("$PY" -c 'import json; print(json.load(open(".device/pack.json"))["task"])')
echo "installed in $(( $(date +%s) - start )) s; the loader's speed, then the bench: --task $task --budget-minutes $BUDGET"
timeout 60 "$PY" bench/bench_loader.py --data .device/data --workers 0 8 2>&1 | tee "$OUT/loader.log"
"$PY" bench/bench_peers.py --task "$task" --data .device/data --budget-minutes "$BUDGET" \
    --rows "frozen features" "advisor auto" --keep 2>&1 | tee "$OUT/bench.log"
bench_rc=${PIPESTATUS[0]}
kept=$(sed -n 's/^Outputs kept under //p' "$OUT/bench.log" | tail -1)
if [ -n "$kept" ] && [ -f "$kept/auto/report.md" ]; then
    cp "$kept/auto/report.md" "$OUT/report.md"
    cp "$kept/auto/report.json" "$OUT/report.json"
fi
echo "bench exit $bench_rc after $(( $(date +%s) - start )) s; tests/runners for at most $TEST_SECONDS s"
timeout "$TEST_SECONDS" "$PY" -m pytest -q -p no:cacheprovider tests/runners 2>&1 | tail -40 | tee "$OUT/tests.log"
echo "tests exit ${PIPESTATUS[0]} (124: cut at $TEST_SECONDS s); done after $(( $(date +%s) - start )) s"
exit "$bench_rc"
