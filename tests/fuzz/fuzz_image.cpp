// libFuzzer harness: image loading (image_info_from_memory, load_image_from_memory; PNG, JPEG,
// BMP via stb_image 2.27).
// Built with -DEVSAM_FUZZ=ON and clang (tests/fuzz/CMakeLists.txt); run by .ci/fuzz.sh.
#include "fuzz_targets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    evsam::fuzz::image(data, size);
    return 0;
}
