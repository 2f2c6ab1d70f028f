// evsam: DeviceTensor<T>, the activation tensor of backend::cuda: a dense row-major (NCHW)
// array in device memory from the context's arena, with the shape API of Tensor<T>
// (shape, dim, size, numel, data, reshape_). Element access happens in kernels only; the host
// sees the values through to_host(), which waits for the stream.
//
// Weights are not DeviceTensors: they stay host Tensor<T> (loaded, BatchNorm-folded) and carry a
// device copy made once by upload_weights(); param_ptr(w, backend::cuda{}) hands kernels that copy.
#pragma once
#include <initializer_list>
#include <memory>
#include <utility>

#include "evsam/backend/cuda/runtime.cuh"
#include "evsam/core/tensor.hpp"

namespace evsam::cuda {

template <class T>
class DeviceTensor {
public:
    using value_type = T;
    struct Uninitialized {};
    static constexpr Uninitialized uninitialized{};

    DeviceTensor() = default;
    DeviceTensor(Shape shape, Uninitialized) : shape_(std::move(shape)), numel_(shape_numel(shape_)) {
        if (numel_) data_ = static_cast<T*>(context().arena().allocate(static_cast<size_t>(numel_) * sizeof(T)));
    }
    // Zero-filled.
    explicit DeviceTensor(Shape shape) : DeviceTensor(std::move(shape), uninitialized) {
        if (numel_) EVSAM_CUDA_CHECK(cudaMemsetAsync(data_, 0, bytes(), context().stream()));
    }
    DeviceTensor(std::initializer_list<int64_t> shape) : DeviceTensor(Shape(shape)) {}
    DeviceTensor(const DeviceTensor& o) : DeviceTensor(o.shape_, uninitialized) {
        if (numel_)
            EVSAM_CUDA_CHECK(cudaMemcpyAsync(data_, o.data_, bytes(), cudaMemcpyDeviceToDevice, context().stream()));
    }
    DeviceTensor(DeviceTensor&& o) noexcept
        : shape_(std::move(o.shape_)), numel_(std::exchange(o.numel_, 0)), data_(std::exchange(o.data_, nullptr)) {}
    DeviceTensor& operator=(const DeviceTensor& o) {
        if (this != &o) *this = DeviceTensor(o);
        return *this;
    }
    DeviceTensor& operator=(DeviceTensor&& o) noexcept {
        if (this != &o) {
            release();
            shape_ = std::move(o.shape_);
            numel_ = std::exchange(o.numel_, 0);
            data_ = std::exchange(o.data_, nullptr);
        }
        return *this;
    }
    ~DeviceTensor() { release(); }

    // Host -> device on the context's stream. From pageable host memory cudaMemcpyAsync returns only
    // once the data is staged, so the host tensor may be freed or changed right after.
    static DeviceTensor from_host(const Tensor<T>& h) {
        DeviceTensor d(h.shape(), uninitialized);
        if (d.numel_)
            EVSAM_CUDA_CHECK(cudaMemcpyAsync(d.data_, h.data(), d.bytes(), cudaMemcpyHostToDevice, context().stream()));
        return d;
    }
    // Device -> host; waits for every kernel queued before it.
    Tensor<T> to_host() const {
        Tensor<T> h(shape_, Tensor<T>::uninitialized);
        if (numel_) {
            EVSAM_CUDA_CHECK(cudaMemcpyAsync(h.data(), data_, bytes(), cudaMemcpyDeviceToHost, context().stream()));
            context().synchronize();
        }
        return h;
    }

    const Shape& shape() const { return shape_; }
    int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
    int64_t size(int64_t i) const {
        if (i < 0) i += dim();
        EVSAM_CHECK(i >= 0 && i < dim(),
                    "DeviceTensor::size: dim " + std::to_string(i) + " out of range for shape " + shape_str(shape_));
        return shape_[static_cast<size_t>(i)];
    }
    int64_t numel() const { return numel_; }
    bool empty() const { return numel_ == 0; }
    T* data() { return data_; }
    const T* data() const { return data_; }
    void reshape_(Shape s) {
        EVSAM_CHECK(shape_numel(s) == numel_, "cannot reshape " + shape_str(shape_) + " to " + shape_str(s));
        shape_ = std::move(s);
    }

private:
    size_t bytes() const { return static_cast<size_t>(numel_) * sizeof(T); }
    void release() noexcept {
        if (data_) context().arena().deallocate(data_);
        data_ = nullptr;
        numel_ = 0;
    }
    Shape shape_;
    int64_t numel_ = 0;
    T* data_ = nullptr;
};

// The backend hooks of backend::cuda (the cpu ones are in evsam/backend/backend.hpp). Declared
// here, in the tag's namespace, so the module templates find them by argument-dependent lookup.

// Trace records host tensors: an activation is downloaded.
template <class T>
Tensor<T> to_host(const DeviceTensor<T>& t) {
    return t.to_host();
}

// A weight's device copy (made by upload_weight); nullptr for an absent (empty) tensor.
template <class T>
const T* param_ptr(const Tensor<T>& w, tag) {
    if (w.empty()) return nullptr;
    EVSAM_CHECK(w.mirror() != nullptr,
                "a weight is not on the device: load the model with load_state_dict (or call upload_weights)");
    return static_cast<const T*>(w.mirror());
}

// Copies one weight to the device (upload_weights, nn/module.hpp, calls it for every weight once
// loaded). Device memory is freed with the last copy of the host tensor.
template <class T>
void upload_weight(Tensor<T>& t, tag) {
    (void)context();  // "no CUDA device" before any allocation
    if (t.empty()) return;
    void* p = nullptr;
    EVSAM_CUDA_CHECK(cudaMalloc(&p, static_cast<size_t>(t.numel()) * sizeof(T)));
    std::shared_ptr<const void> owner(p, [](const void* q) { (void)cudaFree(const_cast<void*>(q)); });
    // on the context's stream (non-blocking: a plain cudaMemcpy would not be ordered before its kernels)
    EVSAM_CUDA_CHECK(cudaMemcpyAsync(p, t.data(), static_cast<size_t>(t.numel()) * sizeof(T), cudaMemcpyHostToDevice,
                                     context().stream()));
    t.set_mirror(std::move(owner));
}

// Waits for every kernel and copy queued on the context's stream.
inline void synchronize(tag) { context().synchronize(); }

}  // namespace evsam::cuda

namespace evsam::backend {
template <class T>
struct tensor_of<T, cuda> {
    using type = ::evsam::cuda::DeviceTensor<T>;
};
}  // namespace evsam::backend
