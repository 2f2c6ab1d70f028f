// evsam's Python extension (evsam._evsam): what its translation units share.
//
//   Model      : a SAM model (any of the registry's, or a JSON configuration) loaded in float or
//                double, with its precision (strict | fast); shared by predictors and generators.
//   Compute    : what every call that runs the network holds: the GIL released, evsam's thread
//                count for this thread, and the CPU precision of its model (PrecisionGate).
//   to_numpy   : a Tensor handed to numpy without a copy (a capsule owns it).
//
// Layering: the extension sits beside the tool (examples/cli): it includes the library's apps
// layer and below, nothing of the tool.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <omp.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>

#include <evsam/backend/tolerance.hpp>
#include <evsam/evsam.hpp>

namespace evsam::python {

namespace py = pybind11;

// A SAM model as Python sees it: one of f32 / f64 is set, by dtype.
struct Model {
    std::string name;     // the registry's name ("l0", "vit_b"), or the JSON configuration's
    std::string title;    // "efficientvit-sam-l0", or the configuration's name
    std::string weights;  // the checkpoint's path
    bool float64 = false;
    Precision precision = Precision::strict;
    AnySamConfig cfg;
    std::unique_ptr<SamBase<float>> f32;
    std::unique_ptr<SamBase<double>> f64;

    const ImageTransform& transform() const { return config_transform(cfg); }
    // f(SamBase<T>&) on whichever is loaded.
    template <class F>
    decltype(auto) visit(F&& f) const {
        if (float64) return f(*f64);
        return f(*f32);
    }
};
using ModelPtr = std::shared_ptr<const Model>;

// The scalar of a SamBase<T, B> or a Predictor<T, B>.
template <class S>
struct ScalarOf;
template <class T, class B>
struct ScalarOf<SamBase<T, B>> {
    using type = T;
};
template <class T, class B>
struct ScalarOf<Predictor<T, B>> {
    using type = T;
};
template <class S>
using scalar_of = typename ScalarOf<std::decay_t<S>>::type;

// The CPU precision is process-wide (backend/cpu_precision.hpp: OpenMP workers read it on every GEMM),
// so calls of one precision may run together, and a call of the other waits until they are done.
class PrecisionGate {
public:
    static PrecisionGate& instance() {
        static PrecisionGate g;
        return g;
    }
    void enter(Precision p) {
        std::unique_lock<std::mutex> lk(m_);
        cv_.wait(lk, [&] { return active_ == 0 || current_ == p; });
        if (active_++ == 0) {
            current_ = p;
            set_cpu_precision(p);
        }
    }
    void leave() {
        std::lock_guard<std::mutex> lk(m_);
        if (--active_ == 0) cv_.notify_all();
    }

private:
    std::mutex m_;
    std::condition_variable cv_;
    int active_ = 0;
    Precision current_ = Precision::strict;
};

// evsam.set_num_threads(n): 0 leaves OpenMP's default (OMP_NUM_THREADS, else every core).
std::atomic<int>& thread_setting();  // read by calls that have released the GIL

// Held by every call that runs the network: the GIL is released first (so other Python threads
// run), then this thread's OpenMP team size is set (omp_set_num_threads is per calling thread) and
// the precision gate entered.
class Compute {
public:
    explicit Compute(Precision p) : p_(p) {
        if (const int n = thread_setting(); n > 0) omp_set_num_threads(n);
        PrecisionGate::instance().enter(p_);
    }
    ~Compute() { PrecisionGate::instance().leave(); }
    Compute(const Compute&) = delete;
    Compute& operator=(const Compute&) = delete;

private:
    py::gil_scoped_release nogil_;
    Precision p_;
};

// A Tensor's storage handed to numpy without a copy: the tensor moves into a capsule that the
// array keeps alive.
template <class T>
py::array_t<T> to_numpy(Tensor<T>&& t) {
    auto* owner = new Tensor<T>(std::move(t));
    py::capsule caps(owner, [](void* p) { delete static_cast<Tensor<T>*>(p); });
    std::vector<py::ssize_t> shape(owner->shape().begin(), owner->shape().end());
    return py::array_t<T>(shape, owner->data(), caps);
}

// A trace's records as {module name: array}, in execution order (a dict keeps insertion order).
template <class T>
py::dict trace_to_dict(Trace<T>&& tr) {
    py::dict d;
    for (auto& [name, t] : tr.records) d[py::str(name)] = to_numpy(std::move(t));
    return d;
}

// numpy -> Tensor<T> (a copy: Tensor owns its storage), any real dtype, cast as numpy casts.
template <class T>
Tensor<T> from_numpy(const py::handle& obj, const std::string& what) {
    py::array a = py::array::ensure(obj);
    if (!a) throw Error(what + ": expected an array");
    const char kind = a.dtype().kind();
    if (kind != 'f' && kind != 'i' && kind != 'u' && kind != 'b')
        throw Error(what + ": expected a numeric array, got dtype " + std::string(py::str(a.dtype())));
    auto c = py::array_t<T, py::array::c_style | py::array::forcecast>::ensure(a);
    Shape s(c.shape(), c.shape() + c.ndim());
    Tensor<T> t(s, Tensor<T>::uninitialized);
    std::copy(c.data(), c.data() + c.size(), t.data());
    return t;
}

// An (H, W, 3) uint8 image, C-contiguous (a copy only when it is not already): upstream's
// set_image / generate take np.uint8 arrays (Pillow's fromarray), so other dtypes are refused.
py::array_t<uint8_t, py::array::c_style> image_array(const py::handle& obj, const std::string& what);

// The CPU precision by name: "strict" or "fast"; fast needs AVX512_BF16 and dtype float32.
Precision precision_arg(const std::string& name, bool float64);

// A classifier or segmenter (zoo.cpp) as a Python object.
py::object make_zoo_model(LoadedZooCheckpoint&& lc, const std::string& weights, bool float64, Precision precision);

// Registration of each translation unit's classes and functions.
void register_model(py::module_& m);
void register_zoo(py::module_& m);
void register_predictor(py::module_& m);
void register_generator(py::module_& m);

}  // namespace evsam::python
