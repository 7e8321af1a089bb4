#!/usr/bin/env bash
# callgrind-yield.sh - instructions per coro_yield, counted by callgrind.
#
#   scripts/callgrind-yield.sh [REV|.]...   (default: .)
#
# For each revision (a git revision, or . for the working tree) builds the
# engine (-O2, the Makefile's native flags) and bench/yield/yield_count.c
# (two coroutines yielding in turn), runs it under callgrind for N and 2N
# yields, and prints (Ir(2N) - Ir(N)) / N: the yield, its switch and
# main's share, with start-up and close cancelled out. Also with run
# accounting on, for the trees that have it. Instruction counts do not
# move with the machine's load, so one run per build is enough; timings on
# a shared machine are noise at this scale (README, "Cost on the switch
# path"). Needs valgrind. About 10 s a revision.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
N=${N:-100000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
[ $# -gt 0 ] || set -- .

ir() { # ir PROG ARGS...: the program's instruction total
  local out=$tmp/cg.out
  valgrind -q --tool=callgrind --callgrind-out-file="$out" "$@" >/dev/null
  awk '/^(summary|totals):/ {print $2; exit}' "$out"
}

printf '%-14s %-12s %s\n' revision accounting 'Ir/yield'
for rev in "$@"; do
  if [ "$rev" = . ]; then
    tree=$root
  else
    tree=$tmp/tree
    rm -rf "$tree" && mkdir -p "$tree"
    git archive "$rev" | tar -x -C "$tree"
  fi
  make -s -C "$tree" V=native build/native/libcoro.a >/dev/null
  defs=
  grep -q coro_loop_set_accounting "$tree/csrc/coro.h" || defs=-DYIELD_COUNT_NO_ACCOUNTING
  prog=$tmp/yield_count
  cc -std=c11 -D_GNU_SOURCE -O2 -g -fno-omit-frame-pointer $defs -I"$tree/csrc" \
    bench/yield/yield_count.c "$tree/build/native/libcoro.a" -lpthread -o "$prog"
  modes=off
  [ -z "$defs" ] && modes="off accounting"
  for m in $modes; do
    a=$(ir "$prog" "$N" $m)
    b=$(ir "$prog" $((2 * N)) $m)
    printf '%-14s %-12s %s\n' "$rev" "$m" "$(awk -v a="$a" -v b="$b" -v n="$N" 'BEGIN {printf "%.2f", (b - a) / n}')"
  done
done
