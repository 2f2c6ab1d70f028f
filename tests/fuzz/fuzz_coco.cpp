// libFuzzer harness: COCO / LVIS segmentations (evsam/coco_mask.hpp: frPyObjects, merge, decode),
// as eval-sam reads them from annotation files. Built with -DEVSAM_FUZZ=ON and clang
// (tests/fuzz/CMakeLists.txt); run by .ci/fuzz.sh.
#include "fuzz_targets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    evsam::fuzz::coco(data, size);
    return 0;
}
