#!/usr/bin/env bash
# Job status for Snakemake's generic cluster executor (see submit.sh):
#   bash tests/data/cluster/status.sh JOBDIR JOBID
# prints exactly one of: running, success, failed.
set -u

jobdir=$1
id=$2
exitfile="$jobdir/$id.exit"

finished() {
    if [ "$(cat "$exitfile")" = "0" ]; then echo success; else echo failed; fi
}

if [ -f "$exitfile" ]; then
    finished
elif [ -f "$jobdir/$id.pid" ] && kill -0 "$(cat "$jobdir/$id.pid")" 2> /dev/null; then
    echo running
elif [ -f "$exitfile" ]; then
    # finished between the two checks above
    finished
else
    # the process is gone without recording an exit status (killed)
    echo failed
fi
