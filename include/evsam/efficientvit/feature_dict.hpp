// evsam: the dict of features upstream's backbones return and its heads read by key
// (backbone.py: output_dict = {"input": x, "stage0": ..., ..., "stage_final": x}; ClsHead's fid,
// SegHead's fid_list), in insertion order.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "evsam/core/error.hpp"
#include "evsam/core/tensor.hpp"

namespace evsam {

template <class T>
using FeatureDict = std::vector<std::pair<std::string, Tensor<T>>>;

// feed_dict[key]; throws naming the keys there are.
template <class T>
const Tensor<T>& feature(const FeatureDict<T>& d, const std::string& key) {
    std::string keys;
    for (const auto& [k, t] : d) {
        if (k == key) return t;
        keys += (keys.empty() ? "" : ", ") + k;
    }
    throw Error("no feature '" + key + "' in the backbone's output (it has " + keys + ")");
}

}  // namespace evsam
