"""SamPredictor / EfficientViTSamPredictor: upstream's predictor API over evsam's C++ Predictor."""
from __future__ import annotations

import copy
from typing import Any, Optional, Tuple

import numpy as np

from . import _evsam


class ResizeLongestSide:
    """segment_anything.utils.transforms.ResizeLongestSide's coordinate part: prompts from
    original-image pixels to the model's prompt frame (1024), in float64 as upstream's numpy."""

    def __init__(self, target_length: int) -> None:
        self.target_length = target_length

    @staticmethod
    def get_preprocess_shape(oldh: int, oldw: int, long_side_length: int) -> Tuple[int, int]:
        scale = long_side_length * 1.0 / max(oldh, oldw)
        newh, neww = oldh * scale, oldw * scale
        return int(newh + 0.5), int(neww + 0.5)

    def apply_coords(self, coords: np.ndarray, original_size: Tuple[int, ...]) -> np.ndarray:
        old_h, old_w = original_size
        new_h, new_w = self.get_preprocess_shape(original_size[0], original_size[1], self.target_length)
        coords = copy.deepcopy(coords).astype(float)
        coords[..., 0] = coords[..., 0] * (new_w / old_w)
        coords[..., 1] = coords[..., 1] * (new_h / old_h)
        return coords

    def apply_boxes(self, boxes: np.ndarray, original_size: Tuple[int, ...]) -> np.ndarray:
        boxes = self.apply_coords(np.asarray(boxes).reshape(-1, 2, 2), original_size)
        return boxes.reshape(-1, 4)


class SamPredictor(_evsam.Predictor):
    """segment_anything's SamPredictor and efficientvit's EfficientViTSamPredictor, for any evsam
    Model. set_image runs the image encoder once; predict decodes prompts against it. Prompts are
    in original-image pixels (x, y). Results are numpy arrays with upstream's shapes: masks (C, H, W)
    bool (float logits with return_logits=True), iou_predictions (C,), low_res_masks (C, 256, 256),
    in the model's dtype. predict(boxes=(B, 4)) is upstream's predict_torch(boxes=...) batch: one
    prompt set per box (each with every point), outputs with a leading B.

    A predictor holds one image; several threads should each have their own (they may share the
    model): calls release the GIL and run in parallel."""

    def __init__(self, sam_model: _evsam.Model) -> None:
        if not isinstance(sam_model, _evsam.Model):
            raise ValueError(f"SamPredictor: expected an evsam.Model, got {type(sam_model).__name__}")
        super().__init__(sam_model)
        self.transform = ResizeLongestSide(sam_model.prompt_frame)

    @property
    def device(self) -> str:
        return "cpu"

    @property
    def features(self) -> Optional[np.ndarray]:
        return self.get_image_embedding() if self.is_image_set else None

    def set_image(self, image: np.ndarray, image_format: str = "RGB") -> None:
        """image: (H, W, 3) uint8, in image_format ("RGB" or "BGR")."""
        super().set_image(image, image_format)

    def apply_coords(self, coords: np.ndarray, im_size: Any = None) -> np.ndarray:
        self._require_image()
        return self.transform.apply_coords(coords, self.original_size)

    def apply_boxes(self, boxes: np.ndarray, im_size: Any = None) -> np.ndarray:
        self._require_image()
        return self.transform.apply_boxes(boxes, self.original_size)

    def predict(
        self,
        point_coords: Optional[np.ndarray] = None,
        point_labels: Optional[np.ndarray] = None,
        box: Optional[np.ndarray] = None,
        mask_input: Optional[np.ndarray] = None,
        multimask_output: bool = True,
        return_logits: bool = False,
        boxes: Optional[np.ndarray] = None,
    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        self._require_image()
        return super().predict(point_coords, point_labels, box, mask_input, multimask_output, return_logits, boxes)

    def predict_torch(
        self,
        point_coords: Optional[np.ndarray] = None,
        point_labels: Optional[np.ndarray] = None,
        boxes: Optional[np.ndarray] = None,
        mask_input: Optional[np.ndarray] = None,
        multimask_output: bool = True,
        return_logits: bool = False,
        image_index: Optional[int] = None,
    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Batched prompts already in the prompt frame (apply_coords / apply_boxes): point_coords
        (B, N, 2), point_labels (B, N), boxes (B, 4), mask_input (B, 1, 256, 256); numpy in and out."""
        self._require_image()
        return super().predict_torch(point_coords, point_labels, boxes, mask_input, multimask_output,
                                     return_logits, image_index)

    def _require_image(self) -> None:
        if not self.is_image_set:
            raise RuntimeError("An image must be set with .set_image(...) before mask prediction.")


EfficientViTSamPredictor = SamPredictor
