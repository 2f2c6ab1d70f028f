// evsam: the module tree. Every model class derives from Module<T, Backend> and
// lists its tensors through visit(), under their PyTorch state_dict names, with
// the shape upstream gives them. The same walk serves:
//   * the schema (names, shapes, dtypes, parameter count) without allocating;
//   * the loader, which fills every tensor from a checkpoint and fails on any
//     missing, unexpected, wrongly typed or wrongly shaped key, naming it.
#pragma once
#include <cstdint>
#include <string>

#include "evsam/backend/backend.hpp"
#include "evsam/core/tensor.hpp"

namespace evsam {

// parameter: counted by model.parameters(); buffer: running stats, PE matrix, ...
enum class ParamKind { parameter, buffer };

template <class T>
struct ParamVisitor {
    virtual ~ParamVisitor() = default;
    // A floating tensor named `name` that must have shape `shape`.
    virtual void tensor(const std::string& name, Tensor<T>& t, const Shape& shape, ParamKind kind) = 0;
    // An int64 scalar buffer (BatchNorm's num_batches_tracked).
    virtual void index(const std::string& name, int64_t& v) = 0;
};

template <class T, class B>
struct Module {
    EVSAM_CHECK_TEMPLATE_ARGS(T, B);
    virtual ~Module() = default;
    // Calls v for every tensor of this module, named prefix + state_dict name.
    virtual void visit(ParamVisitor<T>& v, const std::string& prefix) = 0;
};

}  // namespace evsam
