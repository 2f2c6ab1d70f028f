// evsam tool: the CUDA backend's entry points (declared in cuda_entry.hpp).
// Compiled by nvcc only when the build has EVSAM_WITH_CUDA; the CPU-only tool links no_cuda.cpp,
// whose versions are one-line "built without CUDA" errors.
#include <evsam/evsam_cuda.cuh>

#include "bench.hpp"
#include "cuda_entry.hpp"

namespace evsam::tool {

bool cuda_built() { return true; }
void no_cuda() {
    throw Error("--backend cuda: this evsam was built without CUDA (configure with -DEVSAM_WITH_CUDA=ON)");
}

namespace {

template <class T>
Tensor<T> encode(const Checkpoint& ckpt, const AnySamConfig& cfg, const Tensor<T>& x, const CudaOptions& o,
                 Trace<T>* tr) {
    cuda::context().set_precision(cuda::precision_from_name(o.precision));
    auto model = create_sam<T, backend::cuda>(cfg);
    load_state_dict(*model, ckpt, config_name(cfg));  // weights to the device, once
    const int64_t N = x.size(0), per = x.numel() / std::max<int64_t>(N, 1);
    Tensor<T> out;
    for (int64_t n0 = 0; n0 < N; n0 += o.batch) {  // batches of o.batch images
        const int64_t nb = std::min<int64_t>(o.batch, N - n0);
        Tensor<T> xb({nb, x.size(1), x.size(2), x.size(3)}, Tensor<T>::uninitialized);
        std::copy(x.data() + n0 * per, x.data() + (n0 + nb) * per, xb.data());
        Tensor<T> yb = model->encode(cuda::DeviceTensor<T>::from_host(xb), tr).to_host();
        if (n0 == 0) out = Tensor<T>({N, yb.size(1), yb.size(2), yb.size(3)}, Tensor<T>::uninitialized);
        std::copy(yb.begin(), yb.end(), out.data() + n0 * (yb.numel() / nb));
    }
    return out;
}

}  // namespace

Tensor<float> cuda_encode(const Checkpoint& ckpt, const AnySamConfig& cfg, const Tensor<float>& x, const CudaOptions& o,
                          Trace<float>* tr) {
    return encode(ckpt, cfg, x, o, tr);
}
Tensor<double> cuda_encode(const Checkpoint& ckpt, const AnySamConfig& cfg, const Tensor<double>& x,
                           const CudaOptions& o, Trace<double>* tr) {
    return encode(ckpt, cfg, x, o, tr);
}

CudaBenchResult cuda_bench_encoder(const Checkpoint& ckpt, const AnySamConfig& cfg, const Tensor<float>& one_image,
                                   const CudaOptions& o, int repeat) {
    cuda::Context& ctx = cuda::context();
    ctx.set_precision(cuda::precision_from_name(o.precision));
    auto model = create_sam<float, backend::cuda>(cfg);
    load_state_dict(*model, ckpt, config_name(cfg));
    const int64_t per = one_image.numel();
    Tensor<float> xb({o.batch, one_image.size(1), one_image.size(2), one_image.size(3)}, Tensor<float>::uninitialized);
    for (int64_t n = 0; n < o.batch; ++n) std::copy(one_image.begin(), one_image.end(), xb.data() + n * per);
    const auto x = cuda::DeviceTensor<float>::from_host(xb);
    model->encode(x);  // warm-up: arena filled, cuBLAS heuristics cached
    ctx.synchronize();
    std::vector<double> t;
    for (int i = 0; i < repeat; ++i)
        t.push_back(time_once([&] {
            model->encode(x);
            ctx.synchronize();
        }));
    CudaBenchResult r;
    r.device = cuda::device_name();
    r.encoder_s = median(t);
    r.images_per_s = r.encoder_s > 0 ? static_cast<double>(o.batch) / r.encoder_s : 0;
    struct V : ParamVisitor<float> {
        int64_t bytes = 0;
        void tensor(const std::string&, Tensor<float>& w, const Shape&, ParamKind) override { bytes += w.numel() * 4; }
        void derived(Tensor<float>& w) override { bytes += w.numel() * 4; }
        void index(const std::string&, int64_t&) override {}
    } v;
    model->visit(v, "");
    r.peak_device_mb =
        static_cast<double>(ctx.arena().peak_in_use_bytes() + static_cast<size_t>(v.bytes)) / (1024.0 * 1024.0);
    return r;
}

}  // namespace evsam::tool
