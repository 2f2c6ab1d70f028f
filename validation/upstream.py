"""Import upstream EfficientViT-SAM (mit-han-lab/efficientvit) and SAM
(facebookresearch/segment-anything) from source trees the user points at.

Nothing from upstream is copied into evsam. Paths come from --efficientvit-src /
--sam-src or the environment variables EFFICIENTVIT_SRC / SAM_SRC.

Upstream imports optional packages that are not needed for inference (triton,
omegaconf, timm, onnx, efficientvit.apps ...). A sys.meta_path finder hands out
empty stub modules for those names so create_efficientvit_sam_model(name,
pretrained=False) builds every variant with only torch + torchvision installed.

cv2 and pycocotools are stubbed only when they are not installed: the automatic mask
generator's fixtures (make_fixtures.py amg, check_amg.py) need the real ones
(remove_small_regions calls cv2.connectedComponentsWithStats, coco_encode_rle calls
pycocotools.mask.frPyObjects); nothing else upstream imports them on the paths used here.
"""
import argparse
import importlib.abc
import importlib.machinery
import os
import sys
import types

STUB_PREFIXES = ("triton", "omegaconf", "timm", "onnx", "onnxsim", "efficientvit.apps",
                 "efficientvit.diffusioncore", "efficientvit.gazesamcore", "efficientvit.samcore",
                 "efficientvit.clscore", "efficientvit.segcore", "efficientvit.aecore",
                 "torchpack", "wandb", "lpips", "diffusers", "transformers", "cv2", "pycocotools",
                 "einops", "huggingface_hub", "torchprofile")
# stubbed only if the real package cannot be found (see setup())
STUB_UNLESS_INSTALLED = ("cv2", "pycocotools", "onnx", "triton")  # torch.onnx.export needs the real onnx,
# torch.compile the real triton (its inductor backend checks triton's types)


class _StubModule(types.ModuleType):
    """A module whose every attribute is another stub (so `from x import y` works)."""

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        full = f"{self.__name__}.{name}"
        if full not in sys.modules:
            m = _StubModule(full)
            m.__path__ = []
            sys.modules[full] = m
        return sys.modules[full]

    def __call__(self, *a, **k):  # decorators such as @triton.jit
        if len(a) == 1 and callable(a[0]) and not k:
            return a[0]
        return self


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, prefixes=STUB_PREFIXES):
        self.prefixes = tuple(prefixes)

    def find_spec(self, fullname, path, target=None):
        if any(fullname == p or fullname.startswith(p + ".") for p in self.prefixes):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        m = _StubModule(spec.name)
        m.__path__ = []
        return m

    def exec_module(self, module):
        pass


def add_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--efficientvit-src", default=os.environ.get("EFFICIENTVIT_SRC"),
                    help="checkout of mit-han-lab/efficientvit (or env EFFICIENTVIT_SRC)")
    ap.add_argument("--sam-src", default=os.environ.get("SAM_SRC"),
                    help="checkout of facebookresearch/segment-anything (or env SAM_SRC)")


def setup(efficientvit_src: str, sam_src: str) -> None:
    """Put both source trees on sys.path and install the stub finder."""
    for name, p in (("--efficientvit-src", efficientvit_src), ("--sam-src", sam_src)):
        if not p or not os.path.isdir(p):
            sys.exit(f"error: {name} must name a source checkout (got {p!r})")
        if p not in sys.path:
            sys.path.insert(0, os.path.abspath(p))
    if not any(isinstance(f, _StubFinder) for f in sys.meta_path):
        real = {n for n in STUB_UNLESS_INSTALLED if _installed(n)}
        sys.meta_path.insert(0, _StubFinder(p for p in STUB_PREFIXES if p not in real))


def _installed(name: str) -> bool:
    """True if a top-level package can be found by the normal import machinery (before the stub
    finder is installed; nothing is imported)."""
    import importlib.util
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def have_real(name: str) -> bool:
    """True if `import name` gives the real package, not a stub (call after setup())."""
    import importlib
    return not isinstance(importlib.import_module(name), _StubModule)


def create_model(name: str):
    """Upstream's own factory: efficientvit.sam_model_zoo.create_efficientvit_sam_model.
    name is one of l0 l1 l2 xl0 xl1 (or the full efficientvit-sam-* name)."""
    from efficientvit.sam_model_zoo import create_efficientvit_sam_model
    full = name if name.startswith("efficientvit-sam-") else f"efficientvit-sam-{name}"
    return create_efficientvit_sam_model(full, pretrained=False).eval()


def add_expedit_arg(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--expedit-src", default=os.environ.get("EXPEDIT_SRC"),
                    help="checkout of Expedit-LargeScale-Vision-Transformer/Expedit-SAM (or env EXPEDIT_SRC)")


def hourglass_module(expedit_src: str):
    """Expedit-SAM's segment_anything/modeling/hourglass_image_encoder.py (HourglassImageEncoderViT,
    TokenClusteringBlock, TokenReconstructionBlock), loaded from its checkout as a submodule of SAM's
    own segment_anything.modeling (call after setup()).

    Expedit-SAM ships a whole fork of the segment_anything package under the same name, so the two
    cannot both be imported. Its hourglass module imports only `.image_encoder` (window_partition,
    window_unpartition, add_decomposed_rel_pos, ImageEncoderViT, Block, Attention) and `.common`;
    the fork's image_encoder.py differs from facebookresearch/segment-anything's in docstrings only
    (`diff` the two files), so the module runs on SAM's, unchanged."""
    import importlib.util
    path = os.path.join(expedit_src or "", "segment_anything", "modeling", "hourglass_image_encoder.py")
    if not os.path.isfile(path):
        sys.exit(f"error: --expedit-src must name an Expedit-SAM checkout (no {path})")
    name = "segment_anything.modeling.hourglass_image_encoder"
    if name in sys.modules:
        return sys.modules[name]
    import segment_anything.modeling  # noqa: F401  (the parent package: SAM's)
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def hourglass_encoder(hg, encoder, location: int, num_cluster: int, **kw):
    """Expedit-SAM's HourglassImageEncoderViT with the shape of SAM's plain `encoder` (an
    ImageEncoderViT: depth, width, heads and global blocks read off it) and its weights, clustering
    before block `location` into `num_cluster` tokens per window; other hourglass_* knobs through kw
    (upstream's class defaults otherwise). hg is hourglass_module()'s result."""
    from functools import partial
    import torch
    model = hg.HourglassImageEncoderViT(
        depth=len(encoder.blocks), embed_dim=encoder.patch_embed.proj.out_channels, img_size=encoder.img_size,
        mlp_ratio=4, norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), num_heads=encoder.blocks[0].attn.num_heads,
        patch_size=16, qkv_bias=True, use_rel_pos=True,
        global_attn_indexes=[i for i, b in enumerate(encoder.blocks) if b.window_size == 0], window_size=14,
        out_chans=256, hourglass_clustering_location=location, hourglass_num_cluster=num_cluster,
        **{f"hourglass_{k}": v for k, v in kw.items()}).eval()
    model.load_state_dict(encoder.state_dict())
    return model
