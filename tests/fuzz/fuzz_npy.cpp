// libFuzzer harness: the .npy reader (npy_parse, npy_as<float>, npy_parse_as<float>/<int32_t>).
// Built with -DEVSAM_FUZZ=ON and clang (tests/fuzz/CMakeLists.txt); run by .ci/fuzz.sh.
#include "fuzz_targets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    evsam::fuzz::npy(data, size);
    return 0;
}
