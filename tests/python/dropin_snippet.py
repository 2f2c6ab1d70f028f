"""Upstream's own usage, written once and run with either library's classes.

The predictor part follows segment-anything's README and notebooks/predictor_example.ipynb (one
point with three masks; the best low-res logits fed back with two points; a box; a box with a
background point; a batch of boxes through predict_torch), the generator part its README and
notebooks/automatic_mask_generator_example.ipynb (the defaults, then the notebook's tuned keyword
arguments, relaxed so that the tiny random-weight model yields masks). validation/
make_python_fixtures.py runs it with upstream's SamPredictor / EfficientViTSamPredictor and
SamAutomaticMaskGenerator on the tiny models; tests/python/test_dropin.py runs it with evsam's.

`as_prompt_tensor` is the one difference: upstream's predict_torch takes torch tensors
(torch.as_tensor), evsam's takes numpy arrays (np.asarray).
"""
import numpy as np


def predictor_usage(SamPredictor, sam, image, as_prompt_tensor, **predict_kw):
    predictor = SamPredictor(sam)
    predictor.set_image(image)
    out = {}

    input_point = np.array([[20, 30]])
    input_label = np.array([1])
    masks, scores, logits = predictor.predict(point_coords=input_point, point_labels=input_label,
                                              multimask_output=True, **predict_kw)
    out["point"] = (masks, scores, logits)

    input_point = np.array([[20, 30], [10, 12]])
    input_label = np.array([1, 1])
    mask_input = out["point"][2][np.argmax(out["point"][1]), :, :]  # the best low-res logits, as the notebook
    masks, scores, logits = predictor.predict(point_coords=input_point, point_labels=input_label,
                                              mask_input=mask_input[None, :, :], multimask_output=False, **predict_kw)
    out["refine"] = (masks, scores, logits)

    input_box = np.array([4, 6, 30, 44])
    masks, scores, logits = predictor.predict(point_coords=None, point_labels=None, box=input_box[None, :],
                                              multimask_output=False, **predict_kw)
    out["box"] = (masks, scores, logits)

    input_point = np.array([[15, 20]])
    input_label = np.array([0])
    masks, scores, logits = predictor.predict(point_coords=input_point, point_labels=input_label, box=input_box,
                                              multimask_output=False, **predict_kw)
    out["box_point"] = (masks, scores, logits)

    input_boxes = np.array([[4, 6, 30, 44], [10, 2, 40, 58], [0, 30, 20, 60]])
    transformed_boxes = predictor.transform.apply_boxes(input_boxes, image.shape[:2])
    masks, scores, logits = predictor.predict_torch(point_coords=None, point_labels=None,
                                                    boxes=as_prompt_tensor(transformed_boxes),
                                                    multimask_output=False, **predict_kw)
    out["boxes"] = tuple(np.asarray(t) for t in (masks, scores, logits))
    return out


def generator_usage(SamAutomaticMaskGenerator, sam, image):
    mask_generator = SamAutomaticMaskGenerator(sam)
    default = mask_generator.generate(image)
    mask_generator_2 = SamAutomaticMaskGenerator(
        model=sam,
        points_per_side=8,
        pred_iou_thresh=0.0,
        stability_score_thresh=0.5,
        stability_score_offset=0.005,
        crop_n_layers=1,
        crop_n_points_downscale_factor=2,
        min_mask_region_area=4,
    )
    tuned = mask_generator_2.generate(image)
    return {"default": default, "tuned": tuned}
