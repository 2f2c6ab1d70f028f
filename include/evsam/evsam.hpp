// evsam: EfficientViT-SAM in header-only C++. This is the one header users include.
//
//   #include <evsam/evsam.hpp>
//   auto ckpt = evsam::Checkpoint::open("weights/efficientvit_sam_l0.pt");
//   evsam::EfficientViTSam<float> model(evsam::sam_config(evsam::detect_variant(ckpt)));
//   evsam::load_state_dict(model, ckpt);
#pragma once

#include "evsam/backend/backend.hpp"
#include "evsam/core/checkpoint.hpp"
#include "evsam/core/error.hpp"
#include "evsam/core/file_io.hpp"
#include "evsam/core/image_io.hpp"
#include "evsam/core/module.hpp"
#include "evsam/core/npy.hpp"
#include "evsam/core/preprocess.hpp"
#include "evsam/core/state_dict.hpp"
#include "evsam/core/tensor.hpp"
#include "evsam/efficientvit/sam.hpp"
#include "evsam/amg.hpp"
#include "evsam/predictor.hpp"
#include "evsam/efficientvit/backbone_b.hpp"
