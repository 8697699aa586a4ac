"""Datasets by name, held in memory as uint8 tensors.

Specs: ``digits`` (scikit-learn's bundled 8×8 digits, upscaled to 32×32×3; offline),
``fashion-mnist``, ``cifar10``, ``cifar100`` (torchvision files in ``data_dir``, or ``download``),
``npz:PATH`` (uint8 ``x`` N×H×W×C or N×H×W and integer ``y``) and ``imagefolder:PATH``.

A search never sees a test split: :func:`train_val_split` holds out a seeded, class-balanced
validation part of the training data.
"""
from __future__ import annotations

import gzip
import os
import struct
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["DatasetError", "ImageData", "load_dataset", "train_val_split", "class_balanced_subset", "DATASETS"]

DATASETS = ("digits", "fashion-mnist", "cifar10", "cifar100", "npz:PATH", "imagefolder:PATH")
FASHION_MNIST_DIRS = ("/usr/share/datasets/fashion-mnist",)
_CIFAR_STATS = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))


class DatasetError(ValueError):
    """A dataset that cannot be loaded; the message names the dataset and the problem."""


@dataclass(frozen=True)
class ImageData:
    """Images and labels in memory.

    Attributes:
        name: The spec it was loaded from.
        x: uint8 images, N×C×H×W.
        y: int64 labels in ``[0, num_classes)``.
        num_classes: Number of classes.
        mean, std: Per-channel statistics used by :meth:`normalize` (pixels in [0, 1]).
        augment: Whether crop+flip augmentation suits it (natural images, not digits).
    """

    name: str
    x: torch.Tensor
    y: torch.Tensor
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augment: bool = True

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def image_size(self) -> int:
        return int(self.x.shape[-1])

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 N×C×H×W → normalised float32 on the same device."""
        mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)
        return (x.float().div_(255.0) - mean) / std

    def subset(self, index: torch.Tensor) -> "ImageData":
        return replace(self, x=self.x[index], y=self.y[index])

    def to(self, device: torch.device | str) -> "ImageData":
        return replace(self, x=self.x.to(device), y=self.y.to(device))


def _stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    xf = x[:10000].double() / 255.0
    mean = xf.mean(dim=(0, 2, 3))
    std = xf.std(dim=(0, 2, 3)).clamp_min(1e-3)
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


def _from_arrays(name: str, x: np.ndarray, y: np.ndarray, num_classes: Optional[int] = None,
                 stats: Optional[tuple] = None, augment: bool = True) -> ImageData:
    if x.dtype != np.uint8:
        raise DatasetError(f"dataset {name}: images must be uint8, got {x.dtype}")
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise DatasetError(f"dataset {name}: images must be N×H×W×C with C in (1, 3), got shape {x.shape}")
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DatasetError(f"dataset {name}: labels must be a 1-D integer array, got {y.dtype} {y.shape}")
    if len(x) != len(y):
        raise DatasetError(f"dataset {name}: {len(x)} images but {len(y)} labels")
    if len(x) == 0:
        raise DatasetError(f"dataset {name}: no images")
    if num_classes is None:
        num_classes = int(y.max()) + 1
    if y.min() < 0 or y.max() >= num_classes:
        raise DatasetError(f"dataset {name}: labels out of range: found {int(y.min())}..{int(y.max())}, "
                           f"expected 0..{num_classes - 1}")
    x = np.ascontiguousarray(x) if x.flags.writeable else x.copy()  # IDX files are read-only buffers
    xt = torch.from_numpy(x).permute(0, 3, 1, 2)
    if xt.shape[1] == 1:
        xt = xt.expand(-1, 3, -1, -1)
    xt = xt.contiguous()
    mean, std = stats if stats is not None else _stats(xt)
    return ImageData(name, xt, torch.from_numpy(y.astype(np.int64)), num_classes, tuple(mean), tuple(std), augment)


def _digits() -> ImageData:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.from_numpy(d.images).float().unsqueeze(1) / 16.0
    x = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)
    x = (x.clamp(0, 1) * 255).round().to(torch.uint8).squeeze(1).numpy()
    return _from_arrays("digits", x, d.target, 10, augment=False)


def _npz(path: str) -> ImageData:
    name = f"npz:{path}"
    if not os.path.isfile(path):
        raise DatasetError(f"dataset {name}: file not found")
    try:
        with np.load(path, allow_pickle=False) as f:
            if "x" not in f or "y" not in f:
                raise DatasetError(f"dataset {name}: needs arrays 'x' and 'y', found {sorted(f.files)}")
            x, y = f["x"], f["y"]
            num_classes = int(f["num_classes"]) if "num_classes" in f else None
    except DatasetError:
        raise
    except Exception as e:  # noqa: BLE001 - zipfile/numpy raise many types for corrupt files
        raise DatasetError(f"dataset {name}: not a readable .npz file ({type(e).__name__})") from None
    return _from_arrays(name, x, y, num_classes)


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise DatasetError(f"dataset fashion-mnist: {path} is not a uint8 IDX file")
    shape = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(shape)):
        raise DatasetError(f"dataset fashion-mnist: {path} is truncated")
    return arr.reshape(shape)


def _fashion_mnist(data_dir: Optional[str], download: bool, train: bool) -> ImageData:
    prefix = "train" if train else "t10k"
    dirs = [Path(data_dir)] if data_dir else []
    dirs += [d / "FashionMNIST" / "raw" for d in list(dirs)] + [Path(p) for p in FASHION_MNIST_DIRS]
    for d in dirs:
        for ext in (".gz", ""):
            img, lab = d / f"{prefix}-images-idx3-ubyte{ext}", d / f"{prefix}-labels-idx1-ubyte{ext}"
            if img.is_file() and lab.is_file():
                return _from_arrays("fashion-mnist", _read_idx(img), _read_idx(lab).astype(np.int64), 10, augment=True)
    if download:
        from torchvision.datasets import FashionMNIST

        root = data_dir or os.path.expanduser("~/.cache/ghostnas/data")
        ds = FashionMNIST(root, train=train, download=True)
        return _from_arrays("fashion-mnist", ds.data.numpy(), ds.targets.numpy(), 10)
    raise DatasetError("dataset fashion-mnist: files not found in "
                       f"{', '.join(str(d) for d in dirs)}; pass --data-dir, --download, "
                       "or apt-get install dataset-fashion-mnist")


def _cifar(which: str, data_dir: Optional[str], download: bool, train: bool) -> ImageData:
    from torchvision.datasets import CIFAR10, CIFAR100

    cls = CIFAR10 if which == "cifar10" else CIFAR100
    root = data_dir or os.path.expanduser("~/.cache/ghostnas/data")
    try:
        ds = cls(root, train=train, download=download)
    except RuntimeError as e:
        raise DatasetError(f"dataset {which}: {str(e).strip()} (looked in {root}; pass --data-dir or --download)") from None
    stats = _CIFAR_STATS if which == "cifar10" else None
    return _from_arrays(which, np.asarray(ds.data), np.asarray(ds.targets), len(ds.classes), stats)


def _imagefolder(path: str, image_size: Optional[int]) -> ImageData:
    from PIL import Image

    name = f"imagefolder:{path}"
    root = Path(path)
    if not root.is_dir():
        raise DatasetError(f"dataset {name}: folder not found")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        raise DatasetError(f"dataset {name}: no class sub-folders")
    exts = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
    files = [(f, i) for i, c in enumerate(classes) for f in sorted((root / c).iterdir()) if f.suffix.lower() in exts]
    if not files:
        raise DatasetError(f"dataset {name}: no image files in its {len(classes)} class folder(s)")
    images = []
    for f, _ in files:
        try:
            with Image.open(f) as im:
                im = im.convert("RGB")
                if image_size:
                    im = im.resize((image_size, image_size), Image.BILINEAR)
                images.append(np.asarray(im))
        except Exception as e:  # noqa: BLE001 - PIL raises many types
            raise DatasetError(f"dataset {name}: cannot read image {f} ({type(e).__name__})") from None
    sizes = {im.shape for im in images}
    if len(sizes) > 1:
        raise DatasetError(f"dataset {name}: images have different sizes {sorted(sizes)[:3]}; set an image size")
    return _from_arrays(name, np.stack(images), np.array([i for _, i in files]), len(classes))


def load_dataset(spec: str, data_dir: Optional[str] = None, download: bool = False, split: str = "train",
                 image_size: Optional[int] = None) -> ImageData:
    """Load a dataset by name into memory.

    Args:
        spec: ``digits``, ``fashion-mnist``, ``cifar10``, ``cifar100``, ``npz:PATH`` or ``imagefolder:PATH``.
        data_dir: Where torchvision-style files live (or go, with ``download``).
        download: Allow torchvision to download.
        split: ``train`` or ``test`` (``npz``/``imagefolder``/``digits`` have one split: ``train``).
        image_size: Resize ``imagefolder`` images to this square size.

    Raises:
        DatasetError: unknown name, missing/corrupt files, labels out of range, ...
    """
    if not isinstance(spec, str) or not spec:
        raise DatasetError(f"dataset name must be a non-empty string; choose from {', '.join(DATASETS)}")
    if split not in ("train", "test"):
        raise DatasetError(f"dataset {spec}: split must be 'train' or 'test', got {split!r}")
    kind, _, arg = spec.partition(":")
    single_split = kind in ("digits", "npz", "imagefolder")
    if single_split and split != "train":
        raise DatasetError(f"dataset {spec}: has only a 'train' split; validation is held out from it")
    if kind == "digits" and not arg:
        return _digits()
    if kind == "npz" and arg:
        return _npz(arg)
    if kind == "imagefolder" and arg:
        return _imagefolder(arg, image_size)
    if kind == "fashion-mnist" and not arg:
        return _fashion_mnist(data_dir, download, split == "train")
    if kind in ("cifar10", "cifar100") and not arg:
        return _cifar(kind, data_dir, download, split == "train")
    raise DatasetError(f"unknown dataset {spec!r}; choose from {', '.join(DATASETS)}")


def train_val_split(data: ImageData, val_fraction: float = 0.1, seed: int = 0, fraction: float = 1.0,
                    val_size: Optional[int] = None) -> tuple[ImageData, ImageData]:
    """Seeded, class-balanced split of a training set into train and held-out validation parts.

    Args:
        data: The training data.
        val_fraction: Share of each class held out for validation (ignored if ``val_size``).
        seed: Seed of the split (the same seed gives the same split).
        fraction: Share of the remaining training images kept (per class), for cheap proxies.
        val_size: Exact number of validation images (balanced over classes).

    Returns:
        ``(train, val)``, disjoint.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"data fraction must be in (0, 1], got {fraction!r}")
    if val_size is None and not 0.0 < val_fraction < 1.0:
        raise ValueError(f"validation fraction must be in (0, 1), got {val_fraction!r}")
    g = torch.Generator().manual_seed(seed)
    train_idx, val_idx = [], []
    k = data.num_classes
    for c in range(k):
        idx = torch.nonzero(data.y == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        n_val = (val_size // k + (1 if c < val_size % k else 0)) if val_size is not None else int(round(len(idx) * val_fraction))
        n_val = min(n_val, max(len(idx) - 1, 0))
        rest = idx[n_val:]
        n_train = max(1, int(round(len(rest) * fraction))) if len(rest) else 0
        val_idx.append(idx[:n_val])
        train_idx.append(rest[:n_train])
    tr = torch.cat(train_idx)
    va = torch.cat(val_idx)
    tr = tr[torch.randperm(len(tr), generator=g)]
    if len(va) == 0 or len(tr) == 0:
        raise ValueError(f"dataset {data.name}: too small to split ({len(data)} images)")
    return data.subset(tr), data.subset(va)


def class_balanced_subset(data: ImageData, fraction: float, seed: int = 0) -> ImageData:
    """A seeded share of each class of ``data`` (all of it for ``fraction = 1``), in shuffled order.

    Args:
        data: The images.
        fraction: Share of each class kept, in (0, 1].
        seed: Seed of the choice and the order.

    Returns:
        The subset (at least one image of every class present).
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"data fraction must be in (0, 1], got {fraction!r}")
    g = torch.Generator().manual_seed(seed)
    keep = []
    for c in range(data.num_classes):
        idx = torch.nonzero(data.y == c).flatten()
        if len(idx):
            idx = idx[torch.randperm(len(idx), generator=g)]
            keep.append(idx[:max(1, int(round(len(idx) * fraction)))])
    kept = torch.cat(keep)
    return data.subset(kept[torch.randperm(len(kept), generator=g)])
