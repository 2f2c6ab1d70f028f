// evsam: state_dict schema and strict loading (checkpoint detection: evsam/registry.hpp).
//
// load_state_dict(model, ckpt) is PyTorch's strict load_state_dict: every key the
// model declares must be present with a matching dtype class (floating for
// weights, int64 for num_batches_tracked) and shape, and every key of the
// checkpoint must be consumed. Mismatches are reported on one line naming the keys.
#pragma once
#include <map>
#include <set>
#include <string>
#include <vector>

#include "evsam/core/checkpoint.hpp"
#include "evsam/nn/module.hpp"

namespace evsam {

struct SchemaEntry {
    std::string name;
    Shape shape;
    bool is_int64;  // num_batches_tracked
    ParamKind kind;
};

template <class T, class B>
std::vector<SchemaEntry> state_dict_schema(Module<T, B>& m) {
    struct V : ParamVisitor<T> {
        std::vector<SchemaEntry> out;
        void tensor(const std::string& n, Tensor<T>&, const Shape& s, ParamKind k) override {
            out.push_back({n, s, false, k});
        }
        void index(const std::string& n, int64_t&) override { out.push_back({n, {}, true, ParamKind::buffer}); }
    } v;
    m.visit(v, "");
    return v.out;
}

// Sum of numel over parameters (not buffers): upstream's sum(p.numel() for p in model.parameters()).
inline int64_t count_parameters(const std::vector<SchemaEntry>& schema) {
    int64_t n = 0;
    for (auto& e : schema)
        if (e.kind == ParamKind::parameter) n += shape_numel(e.shape);
    return n;
}

// Problems between a schema and a checkpoint, in schema order then checkpoint order.
struct StateDictMismatch {
    std::vector<std::string> missing, unexpected, wrong_shape, wrong_dtype;
    size_t count() const { return missing.size() + unexpected.size() + wrong_shape.size() + wrong_dtype.size(); }
    std::string describe(size_t max_each = 3) const {
        std::string s;
        auto add = [&](const char* what, const std::vector<std::string>& v) {
            if (v.empty()) return;
            if (!s.empty()) s += "; ";
            s += what;
            for (size_t i = 0; i < v.size() && i < max_each; ++i) s += (i ? ", " : " ") + v[i];
            if (v.size() > max_each) s += " (+" + std::to_string(v.size() - max_each) + " more)";
        };
        add("missing key", missing);
        add("unexpected key", unexpected);
        add("wrong shape:", wrong_shape);
        add("wrong dtype:", wrong_dtype);
        return s;
    }
};

inline StateDictMismatch compare_state_dict(const std::vector<SchemaEntry>& schema, const Checkpoint& ckpt) {
    StateDictMismatch r;
    std::set<std::string> declared;
    for (auto& e : schema) {
        declared.insert(e.name);
        const CheckpointTensor* t = ckpt.find(e.name);
        if (!t) {
            r.missing.push_back("'" + e.name + "'");
            continue;
        }
        const bool ok_dtype = e.is_int64 ? t->desc.dtype == DType::i64 : dtype_is_floating(t->desc.dtype);
        if (!ok_dtype)
            r.wrong_dtype.push_back("'" + e.name + "' is " + dtype_name(t->desc.dtype) + ", expected " +
                                    (e.is_int64 ? "int64" : "a floating type"));
        if (t->desc.shape != e.shape)
            r.wrong_shape.push_back("'" + e.name + "' is " + shape_str(t->desc.shape) + ", expected " +
                                    shape_str(e.shape));
    }
    for (auto& t : ckpt.tensors())
        if (!declared.count(t.name)) r.unexpected.push_back("'" + t.name + "'");
    return r;
}

// Strict load: fills every tensor of m from ckpt (converted to T), or throws naming the keys.
// Then, unless fold_batchnorm is false, every ConvLayer folds its BatchNorm into its conv weight
// (the inference form; with false the parameters stay exactly the checkpoint's values).
template <class T, class B>
void load_state_dict(Module<T, B>& m, const Checkpoint& ckpt, const std::string& model_name = "model",
                     bool fold_batchnorm = true) {
    auto schema = state_dict_schema(m);
    auto mm = compare_state_dict(schema, ckpt);
    if (mm.count()) throw Error(ckpt.path() + ": checkpoint does not match " + model_name + ": " + mm.describe());
    struct V : ParamVisitor<T> {
        const Checkpoint* ck;
        void tensor(const std::string& n, Tensor<T>& t, const Shape&, ParamKind) override {
            const CheckpointTensor& c = *ck->find(n);
            t = Checkpoint::to_tensor<T>(c);
            ck->release(c);  // the file's pages go once copied: one copy of the weights resident
        }
        void index(const std::string& n, int64_t& v) override { Checkpoint::read<int64_t>(*ck->find(n), &v); }
        bool fold = true;
        bool fold_batchnorm() const override { return fold; }
    } v;
    v.ck = &ckpt;
    v.fold = fold_batchnorm;
    m.visit(v, "");
    upload_weights(m);  // a device backend copies every weight to the device, once
}

}  // namespace evsam
