#!/usr/bin/env bash
# Coverage-guided fuzzing (clang's libFuzzer, under ASan and UBSan) of the
# code that parses untrusted input without DPDK: the config file, the
# command line, the small value parsers (src/config.c) and the control
# requests (protobuf-c unpacking, then src/ctl_req.c).
#
#   bash scripts/fuzz.sh [SECONDS]    build, replay the regressions, then
#                                     fuzz each target SECONDS (default 20)
#
# Exits non-zero if any target crashes, leaks, times out or fails one of
# its checks; the input that did it is kept in build-fuzz/artifacts/.
# Regressions (tests/fuzz/regressions/TARGET/) are inputs that once did:
# they are replayed first. Seeds: tests/fuzz/corpus/TARGET/ (read only);
# what the fuzzer finds goes to build-fuzz/corpus/TARGET/.
#
# Built by this script with clang directly, not by meson: the targets are
# a handful of files, and the project's meson.build needs DPDK (pkg-config
# libdpdk) and gcc's build dir, neither of which the fuzzers want. A
# second meson project or an option would have to skip most of it; five
# clang commands cannot disturb the main build.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
secs=${1:-20}
out=build-fuzz
targets=(config_file config_args config_values ctl_req)
CC=${CC:-clang}

command -v "$CC" >/dev/null || { echo "fuzz: $CC not found (scripts/install-deps.sh installs clang)" >&2; exit 1; }
mkdir -p "$out/gen" "$out/obj" "$out/artifacts"

# Build (about 10 s).
protoc-c --proto_path=proto --c_out="$out/gen" proto/virtioforwarder.proto
warn=(-Wall -Wextra -Werror)
san=(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
cflags=(-std=gnu11 -g -O1 "${san[@]}" -Isrc -I"$out/gen" -DALLOW_EXPERIMENTAL_API)
# The library code is instrumented for coverage (fuzzer-no-link); only the
# targets link libFuzzer's main.
"$CC" "${cflags[@]}" "${warn[@]}" -fsanitize=fuzzer-no-link -c src/config.c -o "$out/obj/config.o"
"$CC" "${cflags[@]}" "${warn[@]}" -fsanitize=fuzzer-no-link -c src/ctl_req.c -o "$out/obj/ctl_req.o"
"$CC" "${cflags[@]}" "${warn[@]}" -fsanitize=fuzzer-no-link -c "$out/gen/virtioforwarder.pb-c.c" \
  -o "$out/obj/proto.o"
pbc=$(pkg-config --cflags --libs libprotobuf-c)
for t in "${targets[@]}"; do
  objs=("$out/obj/config.o")
  [[ $t == ctl_req ]] && objs+=("$out/obj/ctl_req.o" "$out/obj/proto.o")
  # shellcheck disable=SC2086
  "$CC" "${cflags[@]}" "${warn[@]}" -fsanitize=fuzzer "tests/fuzz/fuzz_$t.c" "${objs[@]}" \
    $pbc -lm -o "$out/fuzz_$t"
done

# Replay the regressions, then fuzz. Each run bounded in time and memory.
opts=(-timeout=10 -rss_limit_mb=2048 -max_len=8192)
failed=()
for t in "${targets[@]}"; do
  bin=$out/fuzz_$t
  dict=()
  [[ -f tests/fuzz/$t.dict ]] && dict=(-dict="tests/fuzz/$t.dict")
  shopt -s nullglob
  regs=(tests/fuzz/regressions/"$t"/*)
  shopt -u nullglob
  if ((${#regs[@]})); then
    if ! "$bin" "${opts[@]}" "${regs[@]}" >"$out/$t.replay.log" 2>&1; then
      echo "fuzz: $t: a regression input fails again (log: $out/$t.replay.log)" >&2
      tail -n 30 "$out/$t.replay.log" >&2
      failed+=("$t")
      continue
    fi
  fi
  mkdir -p "$out/corpus/$t"
  if "$bin" "${opts[@]}" "${dict[@]}" -max_total_time="$secs" -print_final_stats=1 \
       -artifact_prefix="$out/artifacts/$t-" "$out/corpus/$t" "tests/fuzz/corpus/$t" \
       >"$out/$t.log" 2>&1; then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$t.log")
    cov=$(grep -o 'cov: [0-9]*' "$out/$t.log" | tail -n 1)
    echo "fuzz: $t: ${#regs[@]} regressions ok, ${execs:-?} runs in ${secs}s, $cov, no crash"
  else
    echo "fuzz: $t: FAILED (log: $out/$t.log, input in $out/artifacts/)" >&2
    grep -E -A 30 '^==[0-9]+==|runtime error|check failed|deadly signal' "$out/$t.log" | head -n 40 >&2 || true
    failed+=("$t")
  fi
done
if ((${#failed[@]})); then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
