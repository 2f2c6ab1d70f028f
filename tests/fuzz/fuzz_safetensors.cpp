// libFuzzer harness: the .safetensors reader. Same entry as fuzz_checkpoint, but seeded with
// safetensors files (tests/fuzz/corpus/safetensors) and a JSON-key dictionary.
// Built with -DEVSAM_FUZZ=ON and clang (tests/fuzz/CMakeLists.txt); run by .ci/fuzz.sh.
#include "fuzz_targets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    evsam::fuzz::safetensors(data, size);
    return 0;
}
