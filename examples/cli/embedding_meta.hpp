// evsam tool: what `evsam embed` records beside an embedding (E.npy.json), and the check
// `evsam predict --embedding E.npy` makes before using it: the same model (name, hourglass
// settings, weights file), the same compute type, and an image of the same size.
//
//   {"format": "evsam-embedding", "version": 1, "model": "l0", "hourglass": "", "dtype": "float",
//    "image_size": [H, W] (null when embedded from a preprocessed --input), "weights_bytes": N,
//    "weights_fnv1a": "hex of the first and last MiB of the checkpoint file"}
#pragma once
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "evsam/core/error.hpp"
#include "evsam/core/file_io.hpp"

namespace evsam::tool {

struct EmbeddingMeta {
    std::string model, hourglass, dtype;
    int64_t height = 0, width = 0;  // 0: unknown (embedded from a preprocessed tensor)
    uint64_t weights_bytes = 0;
    std::string weights_fnv1a;
};

// A cheap identity of a checkpoint file: its size and an FNV-1a hash of its first and last MiB
// (a whole-file hash would read hundreds of MB on every predict).
inline void weights_identity(const std::string& path, uint64_t& bytes, std::string& fnv) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw Error(path + ": cannot open");
    f.seekg(0, std::ios::end);
    bytes = static_cast<uint64_t>(f.tellg());
    const uint64_t piece = 1 << 20;
    uint64_t h = 1469598103934665603ull;
    std::string buf;
    for (uint64_t at : {uint64_t(0), bytes > piece ? bytes - piece : uint64_t(0)}) {
        buf.assign(static_cast<size_t>(std::min(piece, bytes)), '\0');
        f.seekg(static_cast<std::streamoff>(at));
        f.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        for (char c : buf) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
    }
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
    fnv = hex;
}

// This run's record: the model as loaded (name, hourglass), the compute type, and the weights file.
inline EmbeddingMeta embedding_meta_of(const std::string& model, const std::string& hourglass, const std::string& dtype,
                                       const std::string& weights, int64_t height = 0, int64_t width = 0) {
    EmbeddingMeta m;
    m.model = model, m.hourglass = hourglass, m.dtype = dtype, m.height = height, m.width = width;
    weights_identity(weights, m.weights_bytes, m.weights_fnv1a);
    return m;
}

inline void save_embedding_meta(const std::string& path, const EmbeddingMeta& m) {
    nlohmann::ordered_json j = {{"format", "evsam-embedding"},
                                {"version", 1},
                                {"model", m.model},
                                {"hourglass", m.hourglass},
                                {"dtype", m.dtype},
                                {"image_size", nullptr},
                                {"weights_bytes", m.weights_bytes},
                                {"weights_fnv1a", m.weights_fnv1a}};
    if (m.height > 0) j["image_size"] = {m.height, m.width};
    const std::string text = j.dump(1) + "\n";
    write_file_atomic(path, text.data(), text.size());
}

// Reads E.npy.json; every missing or malformed field is a one-line error naming the file.
inline EmbeddingMeta load_embedding_meta(const std::string& npy_path) {
    const std::string path = npy_path + ".json";
    std::ifstream f(path, std::ios::binary);
    if (!f)
        throw Error(path +
                    ": not found; --embedding takes an embedding written by 'evsam embed', which records its "
                    "model and image size there");
    EmbeddingMeta m;
    try {
        const nlohmann::json j = nlohmann::json::parse(f);
        if (j.at("format") != "evsam-embedding" || j.at("version") != 1) throw Error("not an evsam embedding record");
        m.model = j.at("model").get<std::string>();
        m.hourglass = j.at("hourglass").get<std::string>();
        m.dtype = j.at("dtype").get<std::string>();
        if (!j.at("image_size").is_null()) {
            m.height = j.at("image_size").at(0).get<int64_t>();
            m.width = j.at("image_size").at(1).get<int64_t>();
        }
        m.weights_bytes = j.at("weights_bytes").get<uint64_t>();
        m.weights_fnv1a = j.at("weights_fnv1a").get<std::string>();
    } catch (const std::exception& e) {
        throw Error(path + ": malformed embedding record (" + e.what() + ")");
    }
    return m;
}

// predict's check: `want` describes this run (model, hourglass, dtype, image size, weights).
inline void check_embedding_meta(const std::string& npy_path, const EmbeddingMeta& got, const EmbeddingMeta& want) {
    const std::string p = npy_path + ": ";
    if (got.model != want.model)
        throw Error(p + "an embedding of model '" + got.model + "', not of '" + want.model + "'");
    if (got.hourglass != want.hourglass)
        throw Error(p + "embedded with hourglass '" + got.hourglass + "', this run has '" + want.hourglass + "'");
    if (got.weights_bytes != want.weights_bytes || got.weights_fnv1a != want.weights_fnv1a)
        throw Error(p + "embedded with other weights than --weights (file size or hash differs)");
    if (got.dtype != want.dtype)
        throw Error(p + "embedded in " + got.dtype + ", but this run computes in " + want.dtype + " (--dtype)");
    if (got.height == 0)
        throw Error(p + "embedded from a preprocessed --input, so its image size is unknown; embed with --image");
    if (got.height != want.height || got.width != want.width)
        throw Error(p + "an embedding of a " + std::to_string(got.width) + "x" + std::to_string(got.height) +
                    " image, but --image is " + std::to_string(want.width) + "x" + std::to_string(want.height));
}

}  // namespace evsam::tool
