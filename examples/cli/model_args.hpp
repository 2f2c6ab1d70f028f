// evsam tool: the flags every model command shares: the checkpoint and its model (--weights,
// --model, --config) and the backend (--backend, --precision, --batch).
#pragma once
#include <optional>
#include <string>

#include "args.hpp"
#include "common_flags.hpp"
#include "cuda_entry.hpp"
#include "evsam/open_model.hpp"

namespace evsam::tool {

// Opening a checkpoint (--weights, --model, --config) is the library's (evsam/open_model.hpp), shared
// with the Python package.
using evsam::command_for;
using evsam::LoadedCheckpoint;
using evsam::LoadedZooCheckpoint;
using evsam::open_checkpoint;
using evsam::open_zoo_checkpoint;

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
