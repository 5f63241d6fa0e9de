"""The in-memory data set every model trains on, and the conversion of arrays into images.

Images are float32 in [0, 1] with shape ``[N, C, H, W]`` end to end (flat vectors ``[N, D]``
where the data are not images). Arrays may come as ``[N, H, W]``, ``[N, H, W, C]``,
``[N, C, H, W]``, or flat ``[N, D]`` with an ``image_shape``; uint8 (or integers up to 255)
become levels k/255, binary values stay 0/1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from vaelab.errors import DataError

SPLITS = ("train", "valid", "test")
BINARIZE = ("auto", "dynamic", "static", "none")


@dataclass
class ImageDataset:
    """One float32 tensor per split, ``[N, *image_shape]``, values in [0, 1].

    ``binary``: every value is 0 or 1 (Bernoulli decoder). ``levels``: 256 when the values are
    8-bit levels k/255 (discretized likelihoods, bits/dim), None when continuous.
    ``dynamic_binarize``: each use draws a fresh Bernoulli sample of the grey levels (Burda et
    al. 2015), so the model sees binary data. ``preferred_likelihood`` overrides the choice
    made from the values (Frey faces: Gaussian, as Kingma & Welling used). ``identity`` is what
    a run records to find this data again.
    """

    name: str
    train: torch.Tensor
    valid: torch.Tensor
    test: torch.Tensor
    binary: bool
    levels: int | None = None
    dynamic_binarize: bool = False
    source: str = ""
    labels: dict[str, torch.Tensor] = field(default_factory=dict)
    preferred_likelihood: str | None = None
    default_binarize: str = "none"
    identity: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        shapes = {s: tuple(getattr(self, s).shape[1:]) for s in SPLITS}
        if len(set(shapes.values())) != 1:
            raise DataError(f"{self.name}: the splits hold examples of different shapes {shapes}")
        if len(self.image_shape) not in (1, 3):
            raise DataError(f"{self.name}: examples of shape {self.image_shape}; expected images "
                            "(C, H, W) or vectors (D,)")
        if not self.identity:
            self.identity = {"name": self.name}


    @property
    def image_shape(self) -> tuple[int, ...]:
        """Shape of one example: (C, H, W), or (D,) for vectors."""
        return tuple(self.train.shape[1:])

    def split(self, name: str) -> torch.Tensor:
        if name not in SPLITS:
            raise DataError(f"unknown split '{name}': choose one of {', '.join(SPLITS)}")
        return getattr(self, name)

    @property
    def dim(self) -> int:
        """Values per example, C * H * W."""
        return math.prod(self.image_shape)

    @property
    def likelihood(self) -> str:
        """The natural observation model: Bernoulli for binary (or dynamically binarized) data,
        the data set's preferred one if it names one, discretized logistic for 8-bit levels,
        else Gaussian."""
        if self.binary or self.dynamic_binarize:
            return "bernoulli"
        if self.preferred_likelihood:
            return self.preferred_likelihood
        return "logistic" if self.levels == 256 else "gaussian"

    def train_mean(self) -> torch.Tensor:
        return self.train.mean(0)

    def binarized(self, mode: str, seed: int = 0) -> ImageDataset:
        """``dynamic``: a fresh Bernoulli sample of the values at every use; ``static``: one
        sample with a fixed seed; ``none``: as is; ``auto``: the data set's default."""
        if mode not in BINARIZE:
            raise DataError(f"--binarize must be one of {', '.join(BINARIZE)}, not '{mode}'")
        mode = self.default_binarize if mode == "auto" else mode
        if mode == "none" or self.binary:
            return self
        if mode == "dynamic":
            return replace(self, dynamic_binarize=True, levels=None)
        g = torch.Generator().manual_seed(seed)
        train, valid, test = (torch.bernoulli(getattr(self, s), generator=g) for s in SPLITS)
        return replace(self, binary=True, levels=None, dynamic_binarize=False, train=train,
                       valid=valid, test=test)

    def summary(self) -> dict:
        return {"name": self.name, "source": self.source, "image_shape": list(self.image_shape),
                "sizes": {s: len(self.split(s)) for s in SPLITS}, "likelihood": self.likelihood,
                "binary": self.binary, "levels": self.levels,
                "dynamic_binarize": self.dynamic_binarize, "identity": self.identity}


def parse_image_shape(spec: str | tuple | list | None) -> tuple[int, ...] | None:
    """``"1,28,20"`` (or a sequence) -> (1, 28, 20); one number means vectors of that size."""
    if spec is None or spec == "":
        return None
    try:
        parts = tuple(int(p) for p in (spec.split(",") if isinstance(spec, str) else spec))
    except (TypeError, ValueError):
        raise DataError(f"--image-shape {spec!r}: give C,H,W (e.g. 1,28,20) or D") from None
    if len(parts) not in (1, 3) or min(parts) < 1:
        raise DataError(f"--image-shape {spec!r}: give C,H,W (e.g. 3,32,32) or D, all >= 1")
    return parts


def _layout(shape: tuple, image_shape: tuple | None, what: str) -> tuple[str, tuple]:
    """How to read an array of ``shape``: returns (layout, example shape)."""
    rest = tuple(shape[1:])
    if image_shape is not None:
        if len(rest) == 1:
            if math.prod(image_shape) != rest[0]:
                raise DataError(f"{what}: {rest[0]} values per example cannot be --image-shape "
                                f"{','.join(map(str, image_shape))}")
            return "flat", image_shape
        if len(image_shape) == 3:
            C, H, W = image_shape
            if rest == (C, H, W):
                return "nchw", image_shape
            if rest == (H, W, C):
                return "nhwc", image_shape
            if C == 1 and rest == (H, W):
                return "nhw", image_shape
        raise DataError(f"{what}: examples of shape {rest} do not match --image-shape "
                        f"{','.join(map(str, image_shape))}")
    if len(rest) == 1:
        side = math.isqrt(rest[0])
        if side * side == rest[0]:
            return "flat", (1, side, side)
        raise DataError(f"{what}: flat examples of {rest[0]} values are not square images; give "
                        "--image-shape C,H,W (or D for plain vectors)")
    if len(rest) == 2:
        return "nhw", (1, *rest)
    if len(rest) == 3:
        first, last = rest[0] in (1, 3, 4), rest[2] in (1, 3, 4)
        if first and not last:
            return "nchw", rest
        if last and not first:
            return "nhwc", (rest[2], rest[0], rest[1])
        raise DataError(f"{what}: cannot tell channels from {list(shape)}; give "
                        "--image-shape C,H,W")
    raise DataError(f"{what}: expected an array of shape [N, D], [N, H, W], [N, H, W, C] or "
                    f"[N, C, H, W], got {list(shape)}")


def to_images(a: np.ndarray | torch.Tensor, what: str,
              image_shape: tuple | None = None) -> tuple[torch.Tensor, bool, int | None]:
    """Validate and convert an array into float32 images ``[N, C, H, W]`` (or vectors) in
    [0, 1]. Returns (images, binary, levels)."""
    if torch.is_tensor(a):
        a = a.detach().cpu().numpy()
    a = np.asarray(a)
    if a.dtype.kind not in "biuf":
        raise DataError(f"{what}: unsupported dtype {a.dtype} (strings or objects?); store "
                        "numbers: uint8 levels, or floats in [0, 1]")
    if a.ndim < 2:
        raise DataError(f"{what}: expected one example per row, got an array of shape "
                        f"{list(a.shape)}")
    if a.shape[0] == 0 or a.size == 0:
        raise DataError(f"{what}: the array is empty")
    layout, shape = _layout(a.shape, image_shape, what)
    if a.dtype.kind in "iu" and a.dtype.itemsize > 1:
        # 16/32/64-bit integers: torch has no min/max for every one of them; the range is all
        # that matters (0/1 or 0..255), so it is checked here and the values narrowed
        lo, hi = int(a.min()), int(a.max())
        if lo < 0 or hi > 255:
            raise DataError(f"{what}: integer values lie in [{lo}, {hi}] ({a.dtype}); vaelab "
                            "takes 8-bit levels 0..255, 0/1, or floats in [0, 1]: rescale "
                            "16-bit images to floats in [0, 1] (x / 65535) or to 0..255")
        a = a.astype(np.uint8)
    t = torch.from_numpy(np.require(a, requirements=["C", "W"]))  # a copy if read-only
    levels = None
    if t.dtype == torch.bool:
        t = t.float()
    elif not t.dtype.is_floating_point:
        lo, hi = int(t.min()), int(t.max())
        if lo < 0 or hi > 255:
            raise DataError(f"{what}: integer values lie in [{lo}, {hi}]; expected 0..255 "
                            "(8-bit) or 0/1")
        t = t.float() if hi <= 1 else t.float() / 255.0
        levels = None if hi <= 1 else 256
    else:
        t = t.float()
        if not torch.isfinite(t).all():
            raise DataError(f"{what}: contains NaN or Inf values; clean the data first")
        flo, fhi = float(t.min()), float(t.max())
        if flo < 0 or fhi > 1:
            raise DataError(f"{what}: values lie in [{flo:g}, {fhi:g}], expected [0, 1] "
                            "(or uint8 0..255); rescale the data")
        scaled = t * 255
        if torch.equal(scaled, scaled.round()):
            levels = 256
    if layout == "flat":
        t = t.reshape(len(t), *shape)
    elif layout == "nhw":
        t = t.unsqueeze(1)
    elif layout == "nhwc":
        t = t.permute(0, 3, 1, 2)
    binary = is_binary(t)
    return t.contiguous(), binary, (None if binary else levels)


def is_binary(t: torch.Tensor) -> bool:
    return bool(((t == 0) | (t == 1)).all())


def require_binary(t: torch.Tensor, what: str) -> None:
    """Raise if ``t`` is not in {0,1}: a Bernoulli decoder has no density for other values."""
    if not is_binary(t):
        frac = float(((t != 0) & (t != 1)).float().mean())
        raise DataError(
            f"{what}: a Bernoulli decoder needs binary data, but {frac:.1%} of the values are "
            "neither 0 nor 1. Fix: binarize the data (--binarize dynamic or static), or use "
            "another likelihood (--likelihood gaussian or logistic)")


def require_levels(t: torch.Tensor, what: str, likelihood: str) -> None:
    """Raise unless ``t`` holds 8-bit levels k/255: a discretized likelihood has no mass
    elsewhere."""
    scaled = t * 255
    if not torch.equal(scaled, scaled.round()):
        raise DataError(f"{what}: the {likelihood} likelihood models 8-bit data (values k/255), "
                        "but these values are continuous; use --likelihood gaussian")
