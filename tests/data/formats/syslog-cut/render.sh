#!/bin/sh
# A syslog file with its columns cut, as grep and cut output of /var/log/kern.log gets pasted:
# the date cut off ("HOST kernel: [ts] msg") and the host too ("kernel: [ts] msg").
# Syslog's date is 15 characters wide ("Jul  9 00:15:25"), so cut -c17- takes it off whatever
# the day's padding; cut -d' ' -f2- then takes the host off.
# Usage: render.sh OUT_DIR SYSLOG_FILE...
set -eu
out=$1
shift
for log in "$@"; do
    name=$(basename "$log" .log)
    cut -c17- "$log" > "$out/$name.host-kernel.txt"
    cut -c17- "$log" | cut -d' ' -f2- > "$out/$name.kernel.txt"
done
