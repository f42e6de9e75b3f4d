#!/usr/bin/env bash
# A stand-in for a batch scheduler's submit command (sbatch, qsub), used by
# tests/test_cluster.py through Snakemake's generic cluster executor:
#
#   snakemake --executor cluster-generic \
#       --cluster-generic-submit-cmd "bash tests/data/cluster/submit.sh JOBDIR" \
#       --cluster-generic-status-cmd "bash tests/data/cluster/status.sh JOBDIR"
#
# Snakemake appends the path of the job script.  Like a scheduler, this script
# starts the job as a separate, detached background process and returns at
# once, printing only the job id on stdout.  The job's output goes to
# JOBDIR/<id>.out, its exit status to JOBDIR/<id>.exit, its process id to
# JOBDIR/<id>.pid, and one line "<id> <rule> <jobscript>" is appended to
# JOBDIR/submissions.log per submission.
set -euo pipefail

jobdir=$1
jobscript=$2
mkdir -p "$jobdir"

# Job id: unique per submission, like a scheduler's job number.
id=$(date +%s%N)-$$-$RANDOM

# The rule name, from the "# properties = {...}" header of the job script.
rule=$(sed -n 's/^# properties = .*"rule": *"\([^"]*\)".*/\1/p' "$jobscript" | head -n 1)
echo "$id ${rule:-unknown} $jobscript" >> "$jobdir/submissions.log"

# Copy the job script: Snakemake may delete its copy once the job is done.
cp "$jobscript" "$jobdir/$id.sh"

# Detach: no inherited stdin/stdout/stderr, so Snakemake's call to this script
# returns immediately instead of waiting for the job to finish.
nohup bash -c 'bash "$1" > "$2.out" 2>&1; echo $? > "$2.exit.tmp"; mv "$2.exit.tmp" "$2.exit"' \
    job "$jobdir/$id.sh" "$jobdir/$id" < /dev/null > /dev/null 2>&1 &
echo $! > "$jobdir/$id.pid"

echo "$id"
