#!/usr/bin/env bash
# Fuzz envelope/payload decoding and the UTF-8 validator with libFuzzer (docs/FUZZING.md).
#
#   scripts/fuzz.sh [SECONDS]        default 60
#
# Builds Fuzz/EnvelopeFuzz.swift plus the library files it exercises with
# `swiftc -sanitize=fuzzer,address` (no SwiftPM) into .build-fuzz/, copies the seed corpus
# to .build-fuzz/corpus (so the repo is never written), runs for SECONDS, and prints one
# summary line. Exits non-zero if libFuzzer found a crash; the input is in
# .build-fuzz/artifacts/ and the full log in .build-fuzz/fuzz.log.
#
# Environment: FUZZ_JOBS (default 1) runs that many fuzzing processes; FUZZ_ARGS adds
# libFuzzer flags.
set -euo pipefail

seconds="${1:-60}"
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "usage: $0 [SECONDS]" >&2; exit 2; }

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/.build-fuzz"
bin="$out/envelope-fuzz"
corpus="$out/corpus"
artifacts="$out/artifacts"
log="$out/fuzz.log"
mkdir -p "$out" "$corpus" "$artifacts"

sources=(
    "$root/Fuzz/EnvelopeFuzz.swift"
    "$root"/Sources/SwitchboardProtocol/*.swift
    "$root/Sources/Switchboard/Connection/UTF8Validator.swift"
)

# Rebuild only when a source is newer than the binary.
rebuild=0
[[ -x "$bin" ]] || rebuild=1
for f in "${sources[@]}"; do [[ "$f" -nt "$bin" ]] && rebuild=1; done
if (( rebuild )); then
    echo "fuzz: building $bin" >&2
    # gold warns about every ASan helper symbol it cannot export; keep that in a log.
    if ! swiftc -sanitize=fuzzer,address -parse-as-library -g -O \
        -module-name SwitchboardFuzz -module-cache-path "$out/module-cache" \
        "${sources[@]}" -o "$bin" >"$out/build.log" 2>&1; then
        grep -v 'Cannot export local symbol' "$out/build.log" >&2
        echo "fuzz: build failed, see $out/build.log" >&2
        exit 2
    fi
fi

# The seed corpus is copied in; what libFuzzer adds stays under .build-fuzz/ across runs.
cp -n "$root"/Fuzz/corpus/envelope/* "$corpus"/

before_crashes=$(find "$artifacts" -type f | wc -l)
set +e
# shellcheck disable=SC2086
"$bin" "$corpus" \
    -max_total_time="$seconds" \
    -max_len=70000 \
    -timeout=10 \
    -rss_limit_mb=4096 \
    -print_final_stats=1 \
    -artifact_prefix="$artifacts/" \
    -dict="$root/Fuzz/envelope.dict" \
    ${FUZZ_JOBS:+-jobs=$FUZZ_JOBS -workers=$FUZZ_JOBS} \
    ${FUZZ_ARGS:-} \
    >"$log" 2>&1
status=$?
set -e

execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | awk '{s+=$2} END {print s+0}')
rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | awk '{print $2}' | tail -1)
cov=$(grep -oE '(^|[^a-z])cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || true)
corpus_size=$(find "$corpus" -type f | wc -l)
new_artifacts=$(( $(find "$artifacts" -type f | wc -l) - before_crashes ))

if (( status != 0 )) || (( new_artifacts > 0 )); then
    crash=$(ls -t "$artifacts" 2>/dev/null | head -1)
    echo "fuzz: FAILED after ${seconds}s: exit $status, ${execs} execs, cov ${cov:-?}, corpus ${corpus_size}, artifact ${crash:+$artifacts/$crash}, log $log"
    grep -m1 -E 'ERROR: (AddressSanitizer|libFuzzer)|Fatal error|SUMMARY' "$log" >&2 || true
    exit 1
fi
echo "fuzz: OK ${seconds}s, ${execs} execs (${rate:-?}/s), cov ${cov:-?}, corpus ${corpus_size}, 0 crashes, log $log"
