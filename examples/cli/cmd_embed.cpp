// evsam embed: preprocessed input (or an image) -> (1, 256, 64, 64) image embedding, in float or
// double, on the CPU or the GPU; --trace-dir dumps every module's output.
#include <filesystem>
#include <nlohmann/json.hpp>

#include "command.hpp"
#include "evsam/core/file_io.hpp"
#include "evsam/core/image_io.hpp"
#include "evsam/core/npy.hpp"
#include "evsam/nn/state_dict.hpp"
#include "embedding_meta.hpp"
#include "model_args.hpp"

namespace evsam::tool {

// Named, not anonymous: the tool is a unity build (examples/CMakeLists.txt).
namespace cmd_embed {

// Runs the image encoder in T (float, or double: the fp64 oracle) and writes the embedding.
template <class T>
int run_embed(const Args& a, const LoadedCheckpoint& lc, const BackendChoice& be) {
    const ImageTransform& tf = config_transform(lc.cfg);
    Tensor<T> x;
    EmbeddingMeta meta = embedding_meta_of(lc.model, hourglass_summary(lc.cfg),
                                           a.choice("dtype", "float", {"float", "double"}), a.str("weights"));
    if (a.has("image")) {
        Image img = load_image(a.str("image"));
        meta.height = img.height, meta.width = img.width;
        x = preprocess_image<T>(img.data.data(), img.height, img.width, tf);
    } else {
        const Shape want{1, 3, tf.resolution, tf.resolution};
        x = npy_load_as<T>(a.str("input"));
        if (x.shape() != want)
            throw Error(a.str("input") + ": expected a preprocessed tensor of shape " + shape_str(want) + " for " +
                        lc.model + ", got " + shape_str(x.shape()));
    }
    Trace<T> trace;
    const bool tracing = a.has("trace-dir");
    if (tracing) {  // created up front, so a bad path fails before the network runs
        std::error_code ec;
        std::filesystem::create_directories(a.str("trace-dir"), ec);
        if (ec) throw Error("cannot create --trace-dir '" + a.str("trace-dir") + "': " + ec.message());
    }
    Tensor<T> emb;
    if (be.cuda) {
        emb = cuda_encode(lc.ckpt, lc.cfg, x, be.opt, tracing ? &trace : nullptr);
    } else {
        auto model = create_sam<T, backend::cpu>(lc.cfg);
        load_state_dict(*model, lc.ckpt, lc.model);
        emb = model->encode(x, tracing ? &trace : nullptr);
    }
    if (tracing) {  // <name>.npy per module, and trace.json listing them in execution order
        nlohmann::json order = nlohmann::json::array();
        for (auto& [name, t] : trace.records) {
            npy_save(a.str("trace-dir") + "/" + name + ".npy", t);
            order.push_back(name);
        }
        const std::string text = order.dump(1) + "\n";
        write_file_atomic(a.str("trace-dir") + "/trace.json", text.data(), text.size());
    }
    npy_save(a.str("out"), emb);
    save_embedding_meta(a.str("out") + ".json", meta);  // what predict --embedding checks
    return 0;
}

int run(const Args& a) {
    if (a.has("image") == a.has("input")) throw Error("embed: give exactly one of --image and --input");
    const std::string dtype = a.choice("dtype", "float", {"float", "double"});
    const BackendChoice be = backend_flags(a, "embed", true);
    if (dtype == "double" && be.opt.precision == "fast") throw Error("embed: --precision fast needs --dtype float");
    set_threads(a);
    for (const std::string& f : {a.str("out"), a.str("out") + ".json"}) detail::check_write_target(f);
    auto lc = open_checkpoint(a.str("weights"), a.str("model"), a.str("config"));
    apply_hourglass_flags(a, lc, "embed");
    return dtype == "double" ? run_embed<double>(a, lc, be) : run_embed<float>(a, lc, be);
}

}  // namespace cmd_embed

Command embed_command() {
    using namespace cmd_embed;
    std::vector<FlagSpec> f = {weights_flag(),
                               model_flag(),
                               config_flag(),
                               value("image", "IMG", "image: PNG, JPEG or BMP (preprocessed first)"),
                               value("input", "X.npy", "a preprocessed (1,3,R,R) tensor, e.g. from evsam preprocess"),
                               required("out", "E.npy",
                                        "the (1,256,64,64) image embedding, and E.npy.json: its model and image "
                                        "size, which predict --embedding checks"),
                               dtype_flag(),
                               threads_flag()};
    for (auto& b : backend_flag_specs()) f.push_back(b);
    for (auto& h : hourglass_flag_specs()) f.push_back(h);
    f.push_back(value("trace-dir", "DIR", "every module's output as DIR/<state_dict name>.npy, and trace.json"));
    return {"embed", "the (1,256,64,64) image embedding; --trace-dir dumps every module's output", f, run};
}

}  // namespace evsam::tool
