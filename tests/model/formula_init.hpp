// Shared by the encoder smoke tests (CPU and CUDA): seeded formula weights for a full-size model,
// no checkpoint needed, scaled so activations stay O(1) through the whole network.
#pragma once
#include <cmath>
#include <cstdint>
#include <string>

#include <evsam/nn/module.hpp>

namespace evsam_test {

// splitmix64 -> uniform in [-1, 1)
inline double hash_uniform(uint64_t a, uint64_t b) {
    uint64_t z = a * 0x9E3779B97F4A7C15ull + b + 0x632BE59BD9B4E019ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return static_cast<double>(z >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

template <class T>
struct FormulaInit : evsam::ParamVisitor<T> {
    uint64_t k = 0;
    void tensor(const std::string& n, evsam::Tensor<T>& t, const evsam::Shape& s, evsam::ParamKind) override {
        t = evsam::Tensor<T>(s);
        ++k;
        const auto ends = [&](const std::string& suf) {
            return n.size() >= suf.size() && n.compare(n.size() - suf.size(), suf.size(), suf) == 0;
        };
        double scale = 1, offset = 0;
        if (ends("running_var")) {  // in [0.5, 1.5]
            offset = 1.0;
            scale = 0.5;
        } else if (ends("running_mean") || ends("bias")) {
            scale = 0.1;
        } else if (s.size() == 1) {  // norm weights around 1
            offset = 1.0;
            scale = 0.2;
        } else {  // conv / linear weights: uniform with variance 1/fan_in
            int64_t fan_in = 1;
            for (size_t i = 1; i < s.size(); ++i) fan_in *= s[i];
            scale = std::sqrt(3.0 / static_cast<double>(fan_in));
        }
        for (int64_t i = 0; i < t.numel(); ++i)
            t[i] = static_cast<T>(offset + scale * hash_uniform(k, static_cast<uint64_t>(i)));
    }
    void index(const std::string&, int64_t& v) override { v = 0; }
    bool fold_batchnorm() const override { return true; }  // like load_state_dict: ConvLayers fold their BatchNorm
};

}  // namespace evsam_test
