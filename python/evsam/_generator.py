"""SamAutomaticMaskGenerator / EfficientViTSamAutomaticMaskGenerator over evsam's C++ generator."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np

from . import _evsam


class SamAutomaticMaskGenerator(_evsam.MaskGenerator):
    """segment_anything's SamAutomaticMaskGenerator (and efficientvit's subclass): every knob with
    upstream's default. generate(image) takes an (H, W, 3) uint8 RGB image and returns upstream's
    records: dicts with segmentation (an (H, W) bool array, or {"size", "counts"} in the RLE modes;
    counts is pycocotools' string for coco_rle), area, bbox (XYWH), predicted_iou, point_coords,
    stability_score and crop_box (XYWH)."""

    def __init__(
        self,
        model: _evsam.Model,
        points_per_side: Optional[int] = 32,
        points_per_batch: int = 64,
        pred_iou_thresh: float = 0.88,
        stability_score_thresh: float = 0.95,
        stability_score_offset: float = 1.0,
        box_nms_thresh: float = 0.7,
        crop_n_layers: int = 0,
        crop_nms_thresh: float = 0.7,
        crop_overlap_ratio: float = 512 / 1500,
        crop_n_points_downscale_factor: int = 1,
        point_grids: Optional[List[np.ndarray]] = None,
        min_mask_region_area: int = 0,
        output_mode: str = "binary_mask",
    ) -> None:
        if not isinstance(model, _evsam.Model):
            raise ValueError(f"SamAutomaticMaskGenerator: expected an evsam.Model, got {type(model).__name__}")
        super().__init__(model, points_per_side, points_per_batch, pred_iou_thresh, stability_score_thresh,
                         stability_score_offset, box_nms_thresh, crop_n_layers, crop_nms_thresh,
                         crop_overlap_ratio, crop_n_points_downscale_factor, point_grids, min_mask_region_area,
                         output_mode)
        self.points_per_batch = points_per_batch
        self.pred_iou_thresh = pred_iou_thresh
        self.stability_score_thresh = stability_score_thresh
        self.stability_score_offset = stability_score_offset
        self.box_nms_thresh = box_nms_thresh
        self.crop_n_layers = crop_n_layers
        self.crop_nms_thresh = crop_nms_thresh
        self.crop_overlap_ratio = crop_overlap_ratio
        self.crop_n_points_downscale_factor = crop_n_points_downscale_factor
        self.min_mask_region_area = min_mask_region_area

    def generate(self, image: np.ndarray) -> List[Dict[str, Any]]:
        return super().generate(image)


EfficientViTSamAutomaticMaskGenerator = SamAutomaticMaskGenerator
