#!/bin/sh
# Render a real log the ways a paste brings it back, with the tools that do it:
# - mail: a reply quotes it (sed, as mail clients prefix "> "), a mailer wraps it at 72 columns
#   at blanks (fold -s), a fixed-width page breaks it at 80 columns anywhere (fold);
# - line numbers: cat -n (and nl, the same), grep -n, an ordered list ("1. ", nl -s), a gutter
#   ("12 | ", nl -s);
# - terminal copies that turn runs of blanks into tabs (unexpand -a);
# - files saved as UTF-16 (with and without a byte-order mark; iconv) or with a UTF-8
#   byte-order mark;
# - web pages that keep blanks as &nbsp; (forum and tracker software turn every second blank of
#   a run, and a leading one, into &nbsp;): no HTML renderer is installed here, so the page text
#   is what Python's html.unescape makes of such markup (a browser copies the same characters).
# Usage: render.sh LOG OUT_DIR
set -eu
log=$1
out=$2
sed 's/^/> /' "$log" > "$out/quoted.txt"
fold -s -w 72 "$log" > "$out/fold-72.txt"
fold -s -w 72 "$log" | sed 's/^/> /' > "$out/quoted-fold-72.txt"
fold -w 80 "$log" > "$out/fold-80.txt"
cat -n "$log" > "$out/cat-n.txt"
grep -n '' "$log" > "$out/grep-n.txt"
nl -ba -w1 -s '. ' "$log" > "$out/ordered-list.txt"
nl -ba -w4 -s ' | ' "$log" > "$out/gutter.txt"
unexpand -a "$log" > "$out/unexpand.txt"
iconv -f UTF-8 -t UTF-16 "$log" > "$out/utf-16.txt"
iconv -f UTF-8 -t UTF-16BE "$log" > "$out/utf-16be.txt"
{ printf '\357\273\277'; cat "$log"; } > "$out/utf-8-bom.txt"
python3 -c '
import html, re, sys
page = re.sub(r"(?<= ) |^ ", "&nbsp;", html.escape(open(sys.argv[1], encoding="utf-8").read()), flags=re.M)
sys.stdout.write(html.unescape(page))
' "$log" > "$out/nbsp.txt"
