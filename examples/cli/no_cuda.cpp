// evsam tool, built without CUDA: --backend cuda is a one-line error, never a CPU run.
#include "cuda_entry.hpp"

namespace evsam::tool {

bool cuda_built() { return false; }
void no_cuda() {
    throw Error("--backend cuda: this evsam was built without CUDA (configure with -DEVSAM_WITH_CUDA=ON)");
}
Tensor<float> cuda_encode(const Checkpoint&, const AnySamConfig&, const Tensor<float>&, const CudaOptions&,
                          Trace<float>*) {
    no_cuda();
}
Tensor<double> cuda_encode(const Checkpoint&, const AnySamConfig&, const Tensor<double>&, const CudaOptions&,
                           Trace<double>*) {
    no_cuda();
}
CudaBenchResult cuda_bench_encoder(const Checkpoint&, const AnySamConfig&, const Tensor<float>&, const CudaOptions&,
                                   int) {
    no_cuda();
}

}  // namespace evsam::tool
