// evsam: the module tree. Every model class derives from Module<T, Backend> and
// lists its tensors through visit(), under their PyTorch state_dict names, with
// the shape upstream gives them. The same walk serves:
//   * the schema (names, shapes, dtypes, parameter count) without allocating;
//   * the loader, which fills every tensor from a checkpoint and fails on any
//     missing, unexpected, wrongly typed or wrongly shaped key, naming it.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

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
    // True for visitors that assign new values and want the inference form built afterwards
    // (load_state_dict by default): ConvLayer then folds its BatchNorm into its conv. Read-only
    // visits (schema, parameter counts, names) leave modules alone.
    virtual bool fold_batchnorm() const { return false; }
    // Inference-only tensors a module derives from its weights (ConvLayer's folded BatchNorm bias):
    // not in the state_dict, but a device backend must copy them too (upload_weights).
    virtual void derived(Tensor<T>&) {}
    // Every normalisation layer's eps (BatchNorm2d, LayerNorm, LayerNorm2d), for set_norm_eps.
    virtual void norm_eps(double&) {}
};

// Records module outputs under their state_dict-style names
// (e.g. "image_encoder.backbone.stages.3.op_list.2") when enabled.
template <class T>
struct Trace {
    std::vector<std::pair<std::string, Tensor<T>>> records;
    void record(const std::string& name, const Tensor<T>& t) { records.emplace_back(name, t); }
    const Tensor<T>* find(const std::string& name) const {
        for (auto& r : records)
            if (r.first == name) return &r.second;
        return nullptr;
    }
};

// Each module's time in a forward (`evsam bench --profile`). While a ModuleTimer is alive on a
// thread, every module that ends a forward on that thread stamps the clock (Module::trace, the call
// that also records traced outputs): its span is the time from the previous stamp, or from the
// timer's start, to its own. So a leaf's span is all its work, and a parent's is what it does
// after its last child (a residual sum, say). A fused path (FusedMBConv's two convs, MBConv's
// expand and depthwise conv, a residual sum folded into a write) stamps once, under the name of the
// last module it runs: that span holds the modules fused into it, which have none of their own.
class ModuleTimer {
public:
    using clock = std::chrono::steady_clock;
    ModuleTimer() : prev_(active()), last_(clock::now()) { active() = this; }
    ~ModuleTimer() { active() = prev_; }
    ModuleTimer(const ModuleTimer&) = delete;
    ModuleTimer& operator=(const ModuleTimer&) = delete;
    // (module name, seconds), in the order the modules ended
    const std::vector<std::pair<std::string, double>>& spans() const { return spans_; }
    // the timer alive on this thread (the innermost), or null
    static ModuleTimer* current() { return active(); }
    void stamp(const std::string& name) {
        const auto t = clock::now();
        spans_.emplace_back(name, std::chrono::duration<double>(t - last_).count());
        last_ = t;
    }

private:
    static ModuleTimer*& active() {
        thread_local ModuleTimer* p = nullptr;
        return p;
    }
    ModuleTimer* prev_;
    clock::time_point last_;
    std::vector<std::pair<std::string, double>> spans_;
};

// The end of module `name`'s forward, for the ModuleTimer alive on this thread, if any.
inline void stamp_module_end(const std::string& name) {
    if (ModuleTimer* t = ModuleTimer::current()) t->stamp(name);
}

template <class T, class B>
struct Module {
    EVSAM_CHECK_TEMPLATE_ARGS(T, B);
    std::string name;  // state_dict-style path, set by visit() (e.g. "image_encoder.neck")
    Module() = default;
    Module(const Module&) = default;
    Module(Module&&) noexcept = default;  // noexcept: vectors of modules move, never copy
    Module& operator=(const Module&) = default;
    Module& operator=(Module&&) noexcept = default;
    virtual ~Module() = default;
    // Calls v for every tensor of this module, named prefix + state_dict name.
    virtual void visit(ParamVisitor<T>& v, const std::string& prefix) = 0;

protected:
    void set_name(const std::string& prefix) { name = prefix.empty() ? prefix : prefix.substr(0, prefix.size() - 1); }
    // A module's forward ends here: its output recorded when traced, its time stamped when timed.
    void trace(Trace<T>* tr, const TensorOf<T, B>& out) const {
        if (tr) tr->record(name, to_host(out));
        stamp_module_end(name);
    }
};

// One row of the module tree `evsam info --model NAME` prints: output shape,
// parameters and multiply-accumulates (MACs: conv, linear and attention matmuls,
// as upstream's profiler counts them) of a module, children indented below it.
struct ModuleRow {
    std::string name, type;
    Shape out;
    int64_t params = 0, macs = 0;
    int depth = 0;
};

struct ModuleTable {
    std::vector<ModuleRow> rows;
    // Opens a row for module m (params counted now); children add rows after it.
    template <class T, class B>
    size_t open(Module<T, B>& m, const std::string& type, int depth) {
        struct V : ParamVisitor<T> {
            int64_t n = 0;
            void tensor(const std::string&, Tensor<T>&, const Shape& s, ParamKind k) override {
                if (k == ParamKind::parameter) n += shape_numel(s);
            }
            void index(const std::string&, int64_t&) override {}
        } v;
        const std::string saved = m.name;
        m.visit(v, m.name.empty() ? "" : m.name + ".");  // re-visit under its own name: names unchanged
        m.name = saved;
        rows.push_back({m.name, type, {}, v.n, 0, depth});
        return rows.size() - 1;
    }
    // Closes row i: output shape, own MACs plus the MACs of its direct children.
    void close(size_t i, Shape out, int64_t own_macs = 0) {
        int64_t macs = own_macs;
        for (size_t j = i + 1; j < rows.size(); ++j)
            if (rows[j].depth == rows[i].depth + 1) macs += rows[j].macs;
        rows[i].out = std::move(out);
        rows[i].macs = macs;
    }
    // The output shapes of row i's direct children, in order (a backbone's stages).
    std::vector<Shape> children_out(size_t i) const {
        std::vector<Shape> s;
        for (size_t j = i + 1; j < rows.size() && rows[j].depth > rows[i].depth; ++j)
            if (rows[j].depth == rows[i].depth + 1) s.push_back(rows[j].out);
        return s;
    }
};

// A module with one tensor in and one tensor out (upstream's nn.Module.forward(x)).
template <class T, class B>
struct Block : Module<T, B> {
    virtual TensorOf<T, B> forward(const TensorOf<T, B>& x, Trace<T>* tr = nullptr) const = 0;
    // forward(x) + x with the sum folded into the block's last write, where the block can (FusedMBConv
    // and MBConv on the CPU); otherwise nothing, and ResidualBlock adds x itself. The same bits either
    // way.
    virtual std::optional<TensorOf<T, B>> forward_plus_input(const TensorOf<T, B>& x) const {
        (void)x;
        return std::nullopt;
    }
    // forward(x) where the caller gives x up (OpSequential's own intermediates): a block that returns
    // its input as it is (UpSampleLayer at the size it already has, upstream's `return x`) hands it
    // back without copying it (L0-L2's neck: 4 MiB, 0.5-0.7 ms). The same values either way.
    virtual TensorOf<T, B> forward_owned(TensorOf<T, B>&& x, Trace<T>* tr = nullptr) const { return forward(x, tr); }
    // Channels-last runs (OpSequential's untraced forward): whether this block, for an input of NCHW
    // shape x, can run on it channels-last, (N, H, W, C), and give an output of the same shape,
    // channels-last, with forward's bits (ResidualBlocks of FusedMBConvs on the CPU's tiles); and that
    // forward, plus added in its last write where given (ResidualBlock's x, channels-last too).
    virtual bool keeps_channels_last(const Shape& x) const {
        (void)x;
        return false;
    }
    virtual TensorOf<T, B> forward_channels_last(const TensorOf<T, B>& x, const TensorOf<T, B>* plus = nullptr) const {
        (void)x, (void)plus;
        throw std::logic_error(this->name + ": no channels-last forward");
    }
    // Adds this module's rows to t for an input of shape `in`; returns the output shape.
    virtual Shape describe(const Shape& in, ModuleTable& t, int depth) = 0;
};

// The rows of a module whose children run one after another, each child's output the next one's
// input (MBConv, ResBlock, OpSequential, ...): one line in each such module instead of a copy of
// its forward. Returns the last child's output shape.
template <class T, class B>
Shape describe_sequence(Module<T, B>& m, const std::string& type, const Shape& in, ModuleTable& t, int depth,
                        const std::vector<Block<T, B>*>& children) {
    const size_t r = t.open(m, type, depth);
    Shape s = in;
    for (Block<T, B>* c : children) s = c->describe(s, t, depth + 1);
    t.close(r, s);
    return s;
}

// Names every module of a tree after its state_dict path (a visit with a no-op visitor).
template <class T, class B>
void assign_names(Module<T, B>& m, const std::string& prefix = "") {
    struct V : ParamVisitor<T> {
        void tensor(const std::string&, Tensor<T>&, const Shape&, ParamKind) override {}
        void index(const std::string&, int64_t&) override {}
    } v;
    m.visit(v, prefix);
}

// Gives every weight of m its copy in backend B's memory, once (load_state_dict calls it):
// state_dict tensors and the derived inference tensors (folded BatchNorm biases). Nothing is
// copied for cpu; cuda copies each weight to the device (upload_weight, backend/cuda).
template <class T, class B>
void upload_weights(Module<T, B>& m) {
    if constexpr (!std::is_same_v<B, backend::cpu>) {
        struct V : ParamVisitor<T> {
            void tensor(const std::string&, Tensor<T>& t, const Shape&, ParamKind) override { upload_weight(t, B{}); }
            void derived(Tensor<T>& t) override { upload_weight(t, B{}); }
            void index(const std::string&, int64_t&) override {}
        } v;
        const std::string saved = m.name;
        m.visit(v, m.name.empty() ? "" : m.name + ".");
        m.name = saved;
        synchronize(B{});  // every copy done before the host tensors may change
    }
}

}  // namespace evsam
