#!/usr/bin/env bash
# Fuzz smoke run: configure a clang build with libFuzzer, build the fuzz
# targets and run them side by side for FUZZ_SECONDS (default 30) each from
# their seed corpora.
# Exits non-zero if any target crashes, leaks or breaks an invariant.
#
#   tests/fuzz/run_smoke.sh [BUILD_DIR]      (default: <repo>/build-fuzz)
#   FUZZ_SECONDS=300 tests/fuzz/run_smoke.sh
#
# New corpus entries go to BUILD_DIR/fuzz-corpus/<target>, crash inputs to
# BUILD_DIR/fuzz-artifacts/<target>/, full logs to BUILD_DIR/fuzz-<target>.log.
# To keep a crash as a regression seed, copy it into tests/fuzz/corpus/<target>/.
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:-$src/build-fuzz}
seconds=${FUZZ_SECONDS:-30}
targets=(fuzz_request_head fuzz_chunked fuzz_response_head fuzz_ipc fuzz_forward_agreement
         fuzz_json_object_scanner fuzz_json_member_appender)

# The core is instrumented for coverage (fuzzer-no-link) and sanitized; the
# targets add -fsanitize=fuzzer themselves (tests/fuzz/CMakeLists.txt).
core_flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined"
core_flags+=" -fno-omit-frame-pointer -Wno-unknown-warning-option"

CC=clang CXX=clang++ cmake -S "$src" -B "$build" \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DPROXY_FUZZ=ON -DPROXY_TESTS=ON -DPROXY_PCH=ON -DCMAKE_UNITY_BUILD=ON \
    -DCMAKE_CXX_FLAGS="$core_flags" >/dev/null
cmake --build "$build" -j"$(nproc)" --target "${targets[@]}"

# Each target runs FUZZ_SECONDS of wall time, all at once (they share the
# cores: a smoke run, so fewer executions each, but not four times the wait).
run_target() {  # target -> its one-line summary on stdout; non-zero if it failed
    local t=$1 result
    local work="$build/fuzz-corpus/$t" artifacts="$build/fuzz-artifacts/$t/" log="$build/fuzz-$t.log"
    mkdir -p "$work" "$artifacts"
    local args=(-max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$artifacts")
    case $t in
        fuzz_ipc) ;;
        fuzz_json_*) args+=(-dict="$src/tests/fuzz/json.dict") ;;
        *) args+=(-dict="$src/tests/fuzz/http.dict") ;;
    esac
    local start
    start=$(date +%s)
    # The first corpus directory receives new inputs; the seeds stay untouched.
    if "$build/tests/fuzz/$t" "${args[@]}" "$work" "$src/tests/fuzz/corpus/$t" >"$log" 2>&1; then
        result=ok
    else
        result="FAILED (see $log and $artifacts)"
    fi
    local elapsed=$(($(date +%s) - start))
    local runs cov
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n1 || true)
    echo "$t: $result, ran ${elapsed}s, ${runs:-?} executions, ${cov:-cov: ?}," \
        "corpus $(find "$work" -type f | wc -l) files"
    if [[ $result != ok ]]; then
        grep -m5 -E 'ERROR|invariant failed|SUMMARY' "$log" || true
        return 1
    fi
}

pids=()
for t in "${targets[@]}"; do
    run_target "$t" >"$build/fuzz-$t.summary" &
    pids+=($!)
done
failed=0
for i in "${!targets[@]}"; do
    wait "${pids[$i]}" || failed=1
    cat "$build/fuzz-${targets[$i]}.summary"
done
exit "$failed"
