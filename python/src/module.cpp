// evsam._evsam: the extension module. Errors: evsam's one-line messages (the CLI's) become
// FileNotFoundError (a missing file), RuntimeError (a corrupt checkpoint) or ValueError (every other
// bad input); anything else escaping C++ is a RuntimeError. No C++ exception reaches the interpreter.
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
    register_model(m);
    register_zoo(m);
    register_predictor(m);
    register_generator(m);
    m.attr("__version__") = EVSAM_VERSION;
}
