#!/bin/sh
# Render the corpus's raw dmesg buffer (dmesg -r output of the same incident) with the real
# util-linux dmesg reading it as a file, one file per timestamp option.
# Needs util-linux dmesg (>= 2.37 for --time-format delta). Usage: render.sh RAW_FILE OUT_DIR
set -eu
raw=$1
out=$2
render() {
    name=$1
    shift
    TZ=UTC dmesg --file="$raw" --color=never "$@" > "$out/dmesg-$name.txt"
}
render d --show-delta
render e --reltime
render t --notime
render time-format-delta --time-format delta
render xd --decode --show-delta
render xT --decode --ctime
render xe --decode --reltime
render xt --decode --notime
render x-time-format-delta --decode --time-format delta
