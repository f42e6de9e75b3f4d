#!/usr/bin/env bash
# Time the full default workflow on the bundled golf example (three analyses, K = 1..5 with 20
# starts each, 200 bootstrap replicates, bootstrap LR tests, figures, notebooks)
# in a scratch copy, and print wall time and peak memory of the whole run.
#
#   bash benchmarks/full_run.sh [CORES]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cores=${1:-2}
work=$(mktemp -d)
cp -r "$repo/config" "$repo/resources" "$work/"
start=$(date +%s.%N)
/usr/bin/time -v snakemake --snakefile "$repo/Snakefile" --directory "$work" --cores "$cores" \
    > "$work/run.log" 2> "$work/time.log" || { tail -40 "$work/run.log"; exit 1; }
end=$(date +%s.%N)
peak_kb=$(grep "Maximum resident set size" "$work/time.log" | awk '{print $NF}')
printf 'full default run, %s cores: %.1f s wall, largest single process %.0f MiB\n' \
    "$cores" "$(echo "$end - $start" | bc)" "$(echo "$peak_kb / 1024" | bc)"
echo "jobs run, by rule:"
grep -o "(Rule: [a-z_]*)" "$work/time.log" | sort | uniq -c
rm -rf "$work"
