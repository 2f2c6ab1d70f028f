// evsam._evsam: the extension module. Errors: evsam's one-line messages (the CLI's) become
// FileNotFoundError (a missing file), RuntimeError (a corrupt checkpoint) or ValueError (every other
// bad input); anything else escaping C++ is a RuntimeError. No C++ exception reaches the interpreter.
#include <malloc.h>

#include <climits>
#include <cstdlib>

#include "common.hpp"

PYBIND11_MODULE(_evsam, m) {
    namespace py = pybind11;
    using namespace evsam::python;
    m.doc() = "evsam: EfficientViT-SAM and SAM in C++ (the extension; use the evsam package)";
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const evsam::FileNotFound& e) {
            PyErr_SetString(PyExc_FileNotFoundError, e.what());
        } catch (const evsam::CorruptFile& e) {
            PyErr_SetString(PyExc_RuntimeError, e.what());
        } catch (const evsam::Error& e) {
            PyErr_SetString(PyExc_ValueError, e.what());
        }
    });
    // glibc's malloc gives blocks above its mmap threshold back to the system on free, and trims the
    // heap's top above its trim threshold. In a Python process (its objects interleaved in the heap)
    // that made every call fault its activations in again: L0's encoder +10 % time (8.5k page faults
    // per call), segment everything +32 % (1.4M faults per 16 x 16 grid, its decoder batches' 0.5 GB
    // blocks), against the tool's process, which keeps them. Measured here: with blocks up to 1 GB
    // served from the heap and up to 2 GB of free heap kept, both run as in the tool, with a lower
    // peak RSS (bench/README.md, issue 19). evsam.release_memory() gives the free heap back; glibc's
    // own MALLOC_*_ variables, when set, win.
    if (!std::getenv("MALLOC_MMAP_THRESHOLD_") && !std::getenv("MALLOC_TRIM_THRESHOLD_") &&
        !std::getenv("MALLOC_TOP_PAD_") && !std::getenv("MALLOC_MMAP_MAX_")) {
        mallopt(M_MMAP_THRESHOLD, 1 << 30);
        mallopt(M_TRIM_THRESHOLD, INT_MAX);
    }
    m.def(
        "release_memory", [] { return malloc_trim(0) == 1; },
        "gives the heap's free memory back to the system (glibc malloc_trim); True when some was");
    register_model(m);
    register_zoo(m);
    register_predictor(m);
    register_generator(m);
    m.attr("__version__") = EVSAM_VERSION;
}
