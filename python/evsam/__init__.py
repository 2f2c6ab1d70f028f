"""evsam: EfficientViT-SAM and SAM's ViT-B/L/H in C++, with upstream's Python API and no PyTorch.

Arrays in, arrays out (numpy). The classes mirror upstream's names, arguments, defaults and return
values, so switching is a change of import:

    import evsam
    model = evsam.load("efficientvit_sam_l0.pt")          # or evsam.create_model("l0", weights=...)
    predictor = evsam.SamPredictor(model)                  # = EfficientViTSamPredictor
    predictor.set_image(image)                             # (H, W, 3) uint8 RGB
    masks, iou_predictions, low_res_masks = predictor.predict(point_coords=..., point_labels=...)
    records = evsam.SamAutomaticMaskGenerator(model).generate(image)

Every call that runs the network releases the GIL. Errors are Python exceptions carrying the
command-line tool's one-line messages: FileNotFoundError for a missing file, RuntimeError for a
corrupt checkpoint, ValueError for any other bad input.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from . import _evsam
from ._evsam import (
    Model,
    ZooModel,
    __version__,
    compare,
    cpu_has_bf16,
    get_num_threads,
    load_image,
    models,
    preprocess,
    release_memory,
    set_num_threads,
    tolerances,
)
from ._generator import EfficientViTSamAutomaticMaskGenerator, SamAutomaticMaskGenerator
from ._predictor import EfficientViTSamPredictor, ResizeLongestSide, SamPredictor

__all__ = [
    "Model",
    "create_model",
    "load",
    "SamPredictor",
    "EfficientViTSamPredictor",
    "SamAutomaticMaskGenerator",
    "EfficientViTSamAutomaticMaskGenerator",
    "ResizeLongestSide",
    "sam_model_registry",
    "create_efficientvit_sam_model",
    "compare",
    "load_image",
    "tolerances",
    "models",
    "preprocess",
    "release_memory",
    "ZooModel",
    "set_num_threads",
    "get_num_threads",
    "cpu_has_bf16",
    "__version__",
]


def _dtype_name(dtype: Any) -> str:
    if isinstance(dtype, str):
        if dtype in ("float32", "float64"):
            return dtype
        raise ValueError(f"unknown dtype '{dtype}' (expected float32 or float64)")
    try:
        name = np.dtype(dtype).name
    except TypeError:
        raise ValueError(f"unknown dtype {dtype!r} (expected float32 or float64)") from None
    if name not in ("float32", "float64"):
        raise ValueError(f"unknown dtype '{name}' (expected float32 or float64)")
    return name


def _path(p: Any, what: str) -> str:
    if p is None:
        raise ValueError(f"{what}: a checkpoint path is needed (evsam cannot download weights)")
    try:
        import os

        return os.fspath(p)
    except TypeError:
        raise ValueError(f"{what}: expected a path, got {type(p).__name__}") from None


def create_model(
    name: Optional[str] = None,
    weights: Any = None,
    dtype: Any = "float32",
    precision: str = "strict",
    config: Any = None,
    **hourglass: Any,
) -> Model:
    """The model `name` (one of evsam.models(), or upstream's zoo name "efficientvit-sam-l0") with
    the checkpoint `weights`, checked key by key against it. `config`: a model in JSON instead of a
    name (as validation/make_fixtures.py writes). dtype "float64" is the fp64 oracle; precision
    "fast" feeds bf16 to the GEMMs (needs AVX512_BF16). SAM's ViT models take Expedit-SAM's
    hourglass_* keyword arguments (hourglass_clustering_location turns it on)."""
    if name is None and config is None:
        raise ValueError("create_model: give a model name (one of " + ", ".join(models()) + ") or config=")
    if name is not None and config is not None:
        raise ValueError("give --model or --config, not both")
    cfg = "" if config is None else _path(config, "config")
    return _evsam._load(_path(weights, "weights"), name or "", cfg, _dtype_name(dtype), precision, hourglass)


def load(path: Any, dtype: Any = "float32", precision: str = "strict", **hourglass: Any) -> Model:
    """The model of checkpoint `path`, detected from its keys and shapes (as `evsam predict --weights`)."""
    return _evsam._load(_path(path, "load"), "", "", _dtype_name(dtype), precision, hourglass)


def _registry_entry(name: str):
    def build(checkpoint: Any = None, **kwargs: Any) -> Model:
        return create_model(name, weights=checkpoint, **kwargs)

    return build


# segment_anything's sam_model_registry["vit_b"](checkpoint=...), and Expedit-SAM's hourglass kwargs.
sam_model_registry = {"default": _registry_entry("vit_h"), "vit_h": _registry_entry("vit_h"),
                      "vit_l": _registry_entry("vit_l"), "vit_b": _registry_entry("vit_b")}


def create_efficientvit_sam_model(
    name: str, pretrained: bool = True, weight_url: Optional[str] = None, **kwargs: Any
) -> Model:
    """efficientvit.sam_model_zoo.create_efficientvit_sam_model: weight_url is a local checkpoint
    path (nothing is downloaded); an untrained model (pretrained=False) has nothing to run."""
    if not pretrained:
        raise ValueError("create_efficientvit_sam_model: evsam runs trained checkpoints only (pretrained=False)")
    return create_model(name, weights=weight_url, **kwargs)
