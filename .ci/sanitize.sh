#!/usr/bin/env bash
# Sanitizer runs of the test suite (issue 7), with clang:
#   1. ASan + UBSan: the GoogleTest suite (test_core, test_ops, test_nn, test_model, test_cli,
#      test_serve and the evsam tool they run, evsam serve included; no examples, no benchmarks) built into build-asan and run by
#      ctest, except the full-size smoke tests (label slow: minutes under ASan) and the install test
#      (cmake_import, which builds a downstream project and checks nothing a sanitizer could).
#   2. TSan: tests/model/test_threads.cpp alone (several Predictors on one shared model in
#      different threads) and tests/serve/test_serve_util.cpp (evsam serve's cache, compute queue
#      and metrics under concurrent callers), built into build-tsan. OpenMP regions are followed by LLVM's Archer
#      tool (libarcher, shipped with libomp) so TSan sees OpenMP's synchronisation.
# Any sanitizer report fails the run: reports exit with code 86, which no test expects (the cli
# tests expect exit 1 for bad input, which is also what ASan would use by default).
#
# Measured on 2 shared, busy cores (load 5-10): ASan/UBSan build 981 s, its tests 129 s, TSan 33 s;
# 1110 s in all. The build dominates (every test file compiles the library under ASan), hence -O1,
# the level ASan's documentation recommends, not -O2, and -gline-tables-only rather than -g: reports
# keep their file:line frames, and the heaviest batch (test_model's unity_1) compiles in 225 s
# instead of 253 s, at 2.0 GB instead of 2.7 GB, into a 21 MB object instead of 74 MB.
#
#   SANITIZE_JOBS=2         parallel compile and test jobs
#   SANITIZE_STEPS="asan tsan"
# Needs clang and libclang-rt-14-dev (Debian), besides .ci/install-deps.sh's packages.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${SANITIZE_JOBS:-2}
STEPS=${SANITIZE_STEPS:-asan tsan}
for tool in clang clang++; do
  command -v "$tool" >/dev/null || { echo "sanitize.sh: $tool not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }
done
IGNORELIST="$PWD/tests/fuzz/ubsan_ignorelist.txt"  # stb_image 2.27's JPEG UB only, see that file
t0=$(date +%s)

if [[ " $STEPS " == *" asan "* ]]; then
  FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fsanitize-ignorelist=$IGNORELIST -fno-omit-frame-pointer"
  # RelWithDebInfo without -DNDEBUG: assertions (Eigen's bounds checks among them) stay on.
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
    -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_CXX_FLAGS="$FLAGS" \
    -DEVSAM_BUILD_TESTS=ON -DEVSAM_BUILD_EXAMPLES=ON -DEVSAM_BUILD_BENCH=OFF -DEVSAM_BUILD_PYTHON=OFF >/dev/null
  # one goal (tests/CMakeLists.txt): several --target names would be built one after the other
  cmake --build build-asan --target evsam_tests -j"$JOBS"  # test_cli pulls in evsam_cli
  t1=$(date +%s)
  echo "sanitize.sh: ASan/UBSan build $((t1 - t0)) s"
  ASAN_OPTIONS="exitcode=86:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1" \
  UBSAN_OPTIONS="exitcode=86:print_stacktrace=1:halt_on_error=1" \
    ctest --test-dir build-asan --output-on-failure -j"$JOBS" -LE slow -E 'cmake_import|test_model_slow_NOT_BUILT'
  t2=$(date +%s)
  echo "sanitize.sh: ASan/UBSan tests $((t2 - t1)) s"
fi

if [[ " $STEPS " == *" tsan "* ]]; then
  t3=$(date +%s)
  mkdir -p build-tsan
  # One test file, compiled directly: the rest of the suite has no threads of its own to check.
  clang++ -std=c++17 -O1 -gline-tables-only -fsanitize=thread -fopenmp -Iinclude $(pkg-config --cflags eigen3) \
    -DEVSAM_TEST_DATA="\"$PWD/tests/data\"" tests/model/test_threads.cpp \
    -lgtest -lgtest_main -pthread -o build-tsan/test_threads
  t4=$(date +%s)
  echo "sanitize.sh: TSan build $((t4 - t3)) s"
  ARCHER=$(ls /usr/lib/llvm-*/lib/libarcher.so 2>/dev/null | head -1 || true)
  TSAN_OPTIONS="exitcode=86:halt_on_error=1:second_deadlock_stack=1${ARCHER:+:ignore_noninstrumented_modules=1}" \
  OMP_TOOL_LIBRARIES="$ARCHER" ARCHER_OPTIONS="verbose=0" \
    build-tsan/test_threads
  echo "sanitize.sh: TSan test $(( $(date +%s) - t4 )) s"
  # evsam serve's shared state: the LRU cache, the compute queue, the metrics (tests/serve/test_serve_util.cpp)
  clang++ -std=c++17 -O1 -gline-tables-only -fsanitize=thread -fopenmp -Iinclude -Iexamples/cli $(pkg-config --cflags eigen3) \
    tests/serve/test_serve_util.cpp -lgtest -lgtest_main -pthread -o build-tsan/test_serve_util
  TSAN_OPTIONS="exitcode=86:halt_on_error=1:second_deadlock_stack=1" build-tsan/test_serve_util
  echo "sanitize.sh: TSan serve test done"
fi
echo "sanitize.sh: total $(( $(date +%s) - t0 )) s"
