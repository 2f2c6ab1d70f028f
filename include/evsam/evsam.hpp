// evsam: EfficientViT-SAM in header-only C++. This is the one header users include.
//
//   #include <evsam/evsam.hpp>
//   auto ckpt = evsam::Checkpoint::open("weights/efficientvit_sam_l0.pt");
//   auto model = evsam::create_sam<float>(evsam::detect_model(ckpt));   // any registered model
//   evsam::load_state_dict(*model, ckpt);
//   evsam::Predictor<float> predictor(*model);
#pragma once

#include "evsam/backend/backend.hpp"
#include "evsam/backend/cpu_precision.hpp"
#include "evsam/core/checkpoint.hpp"
#include "evsam/core/error.hpp"
#include "evsam/core/file_io.hpp"
#include "evsam/core/image_io.hpp"
#include "evsam/core/npy.hpp"
#include "evsam/core/preprocess.hpp"
#include "evsam/core/tensor.hpp"
#include "evsam/nn/module.hpp"
#include "evsam/nn/state_dict.hpp"
#include "evsam/efficientvit/backbone_b.hpp"
#include "evsam/efficientvit/sam.hpp"
#include "evsam/sam/decoder_onnx_model.hpp"
#include "evsam/registry.hpp"
#include "evsam/open_model.hpp"
#include "evsam/amg.hpp"
#include "evsam/coco_mask.hpp"
#include "evsam/sam_eval.hpp"
#include "evsam/predictor.hpp"
#include "evsam/cls_seg.hpp"
#include "evsam/class_tables.hpp"
#include "evsam/model_input.hpp"
