// libFuzzer harness: the .pt reader (torch.save zip + safe pickle subset) and, as the format
// is detected from the bytes, .safetensors too. Checkpoint::from_memory, every tensor through
// Checkpoint::to_tensor<float>, detect_model. Seeds: tests/fuzz/corpus/checkpoint.
// Built with -DEVSAM_FUZZ=ON and clang (tests/fuzz/CMakeLists.txt); run by .ci/fuzz.sh.
#include "fuzz_targets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    evsam::fuzz::checkpoint(data, size);
    return 0;
}
