// libFuzzer harness: `evsam serve`'s request bodies (predict and everything JSON) and its header
// size reader, through examples/cli/serve_util.hpp. Built with -DEVSAM_FUZZ=ON and clang
// (tests/fuzz/CMakeLists.txt); run by .ci/fuzz.sh.
#include "fuzz_targets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    evsam::fuzz::serve(data, size);
    return 0;
}
