// evsam tool: the flags every model command shares: the checkpoint and its model (--weights,
// --model, --config) and the backend (--backend, --precision, --batch).
#pragma once
#include <optional>
#include <string>

#include "args.hpp"
#include "common_flags.hpp"
#include "cuda_entry.hpp"
#include "evsam/core/checkpoint.hpp"
#include "evsam/registry.hpp"

namespace evsam::tool {

// A checkpoint with its model resolved: --model wins, else detected from keys/shapes; with
// --config, the JSON model. Either way the whole state_dict was checked against that model.
struct LoadedCheckpoint {
    Checkpoint ckpt;
    std::string model;  // the registry's name, or the JSON config's
    AnySamConfig cfg;
};
LoadedCheckpoint open_checkpoint(const std::string& path, const std::string& model_flag,
                                 const std::string& config_path = "");

// An EfficientViT classifier's or segmenter's checkpoint (kind cls or seg) with its model resolved:
// --model wins, else detected from keys and shapes; --config: a model in JSON (as
// validation/make_cls_seg_fixtures.py writes). The whole state_dict was checked against it. A
// checkpoint or --model of another kind is refused naming the command that runs it.
struct LoadedZooCheckpoint {
    Checkpoint ckpt;
    ModelRef model;                            // kind, registry name ("custom" with --config), -rNNN
    std::optional<EfficientViTClsConfig> cls;  // kind cls
    std::optional<EfficientViTSegConfig> seg;  // kind seg
    std::string title;                         // "efficientvit-b1", or the --config path
};
LoadedZooCheckpoint open_zoo_checkpoint(const std::string& path, const std::string& model_flag,
                                        const std::string& config_path, ModelKind want, const std::string& cmd);
// The command that runs a model of this kind ("evsam classify", ...).
std::string command_for(ModelKind k);

// --backend cpu|cuda [--precision strict|fast] [--batch N].
struct BackendChoice {
    bool cuda = false;
    CudaOptions opt;
};
BackendChoice backend_flags(const Args& a, const std::string& cmd, bool cuda_supported);

// --hourglass-* (hourglass_flag_specs): Expedit-SAM's knobs into lc's ViT configuration. None given:
// nothing changes. Refused, with the flag's name, on a model that is not SAM's ViT, without
// --hourglass-location, or out of range for the model (location past its last block, ...).
void apply_hourglass_flags(const Args& a, LoadedCheckpoint& lc, const std::string& cmd);
// "" when the hourglass is off, else "location L clusters K iters N temperature T window W k K".
std::string hourglass_summary(const AnySamConfig& cfg);

}  // namespace evsam::tool
