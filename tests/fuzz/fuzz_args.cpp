// libFuzzer harness: the flag and prompt parser of `evsam predict`. The input is split into argv
// words on NUL/newline and parsed by tool::Args with predict's flag specs; --point/--box go through
// the tool's own prompt rules (examples/cli/prompt_args.hpp: label 0/1, X1 >= X0, Y1 >= Y0).
// Built with -DEVSAM_FUZZ=ON and clang (tests/fuzz/CMakeLists.txt); run by .ci/fuzz.sh.
#include "fuzz_targets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    evsam::fuzz::args(data, size);
    return 0;
}
