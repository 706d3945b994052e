#!/bin/sh
# Render the corpus's journal export stream with the real journalctl, one file per output mode.
# Needs Debian's systemd-journal-remote (for the journal file) and systemd's journalctl.
# Usage: render.sh EXPORT_FILE OUT_DIR
set -eu
export_file=$1
out=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/lib/systemd/systemd-journal-remote -o "$work/k.journal" "$export_file" 2>/dev/null
for mode in short short-full short-iso short-iso-precise short-precise short-monotonic short-unix cat json export \
        short-delta with-unit verbose json-pretty json-seq json-sse; do
    TZ=UTC SYSTEMD_COLORS=0 journalctl --file="$work/k.journal" -k -o "$mode" --no-pager > "$out/journalctl-k-$mode.txt"
done
for mode in short short-monotonic; do
    TZ=UTC SYSTEMD_COLORS=0 journalctl --file="$work/k.journal" -k -o "$mode" --no-hostname --no-pager \
        > "$out/journalctl-k-$mode-no-hostname.txt"
done
