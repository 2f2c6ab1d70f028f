#!/usr/bin/python3
"""Storage variants of the tiny upstream model, for the "accepted, not rejected" CLI tests (issue 7).

Run with the system Python (torch):  /usr/bin/python3 validation/make_tiny_variants.py

Reads tests/data/tiny/tiny_l/model.pt (torch.save of upstream's state_dict, made by
make_fixtures.py) and writes, with torch.save as upstream checkpoints are written,
tests/data/tiny/tiny_l/variants/:

  model_fp16.pt     every floating tensor cast to float16 (int64 buffers unchanged)
  model_bf16.pt     every floating tensor cast to bfloat16
  model_wrapped.pt  {"state_dict": state_dict}, as training checkpoints are often saved
  model_views.pt    every floating tensor is a non-contiguous view (rank >= 2: transposed last two
                    dims; rank 1: a step-2 slice) at its own offset into ONE shared float32 storage

model_wrapped.pt and model_views.pt hold exactly the values of model.pt, so evsam's embedding
with them must be bit-identical to the one with model.pt (tests/cli/test_bad_input_cli.cpp).
Deterministic: re-running gives identical files.
"""
import os

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
TINY = os.path.join(HERE, "..", "tests", "data", "tiny", "tiny_l")
OUT = os.path.join(TINY, "variants")


def views_of_one_storage(sd):
    floats = [k for k, v in sd.items() if v.is_floating_point()]
    room = lambda v: (2 * v.numel() if v.dim() == 1 else v.numel()) + 1  # step-2 slices need 2n; a gap of 1
    total = 1 + sum(room(sd[k]) for k in floats)
    big = torch.zeros(total, dtype=torch.float32)
    out, off = {}, 1  # offset 1: no view starts at the storage's beginning
    for k, v in sd.items():
        if not v.is_floating_point():
            out[k] = v
            continue
        n = v.numel()
        region = big[off:off + room(v)]
        if v.dim() >= 2:
            shape_t = list(v.shape[:-2]) + [v.shape[-1], v.shape[-2]]
            region[:n].view(shape_t).copy_(v.transpose(-1, -2))
            view = region[:n].view(shape_t).transpose(-1, -2)
        elif v.dim() == 1:
            region[:2 * n:2].copy_(v)
            view = region[:2 * n:2]
        else:  # 0-d
            region[0].copy_(v)
            view = region[0]
        assert torch.equal(view, v), k
        assert view.dim() < 2 or not view.is_contiguous() or 1 in view.shape[-2:], k
        out[k] = view
        off += room(v)
    return out


def main():
    sd = torch.load(os.path.join(TINY, "model.pt"), map_location="cpu")  # our own fixture: trusted
    os.makedirs(OUT, exist_ok=True)
    cast = lambda dt: {k: (v.to(dt) if v.is_floating_point() else v) for k, v in sd.items()}
    torch.save(cast(torch.float16), os.path.join(OUT, "model_fp16.pt"))
    torch.save(cast(torch.bfloat16), os.path.join(OUT, "model_bf16.pt"))
    torch.save({"state_dict": sd}, os.path.join(OUT, "model_wrapped.pt"))
    views = views_of_one_storage(sd)
    storages = {v.storage().data_ptr() for v in views.values() if v.is_floating_point()}
    assert len(storages) == 1
    torch.save(views, os.path.join(OUT, "model_views.pt"))
    back = torch.load(os.path.join(OUT, "model_views.pt"))
    for k, v in sd.items():
        assert torch.equal(back[k], v), k
    print("wrote", sorted(os.listdir(OUT)))


if __name__ == "__main__":
    main()
