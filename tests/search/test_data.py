"""Datasets: every loader on data made here, splits, augmentation, and clear errors."""
import gzip
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from ghostnas.search.data import DatasetError, load_dataset, train_val_split
from ghostnas.search.train import _augment


def test_digits_offline_32x32x3():
    d = load_dataset("digits")
    assert d.x.shape == (1797, 3, 32, 32) and d.x.dtype == torch.uint8 and d.num_classes == 10
    assert torch.equal(d.x[:, 0], d.x[:, 1])  # grey replicated
    x = d.normalize(d.x[:100])
    assert abs(float(x.mean())) < 0.5 and x.dtype == torch.float32


def test_npz_loader_and_errors(tmp_path):
    rng = np.random.default_rng(0)
    p = tmp_path / "ok.npz"
    np.savez(p, x=rng.integers(0, 255, (40, 8, 8, 3), dtype=np.uint8), y=np.arange(40) % 4)
    d = load_dataset(f"npz:{p}")
    assert d.x.shape == (40, 3, 8, 8) and d.num_classes == 4
    bad = tmp_path / "labels.npz"
    np.savez(bad, x=np.zeros((4, 8, 8, 3), np.uint8), y=np.array([0, 1, 2, 10]), num_classes=10)
    with pytest.raises(DatasetError, match="labels out of range: found 0..10, expected 0..9"):
        load_dataset(f"npz:{bad}")
    neg = tmp_path / "neg.npz"
    np.savez(neg, x=np.zeros((2, 8, 8, 3), np.uint8), y=np.array([0, -1]))
    with pytest.raises(DatasetError, match="labels out of range"):
        load_dataset(f"npz:{neg}")
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(DatasetError, match=r"npz:.*corrupt.npz: not a readable .npz file"):
        load_dataset(f"npz:{corrupt}")
    with pytest.raises(DatasetError, match="file not found"):
        load_dataset(f"npz:{tmp_path / 'missing.npz'}")
    floats = tmp_path / "floats.npz"
    np.savez(floats, x=np.zeros((2, 8, 8, 3), np.float32), y=np.array([0, 1]))
    with pytest.raises(DatasetError, match="must be uint8"):
        load_dataset(f"npz:{floats}")
    with pytest.raises(DatasetError, match="unknown dataset 'mnist'; choose from digits"):
        load_dataset("mnist")


def _idx(path, arr):
    header = struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def test_fashion_mnist_idx_files(tmp_path):
    _idx(tmp_path / "train-images-idx3-ubyte.gz", np.random.default_rng(0).integers(0, 255, (30, 28, 28)))
    _idx(tmp_path / "train-labels-idx1-ubyte.gz", np.arange(30) % 10)
    d = load_dataset("fashion-mnist", data_dir=str(tmp_path))
    assert d.x.shape == (30, 3, 28, 28) and d.num_classes == 10 and int(d.y[3]) == 3
    with pytest.raises(DatasetError, match="fashion-mnist: files not found"):
        load_dataset("fashion-mnist", data_dir=str(tmp_path / "nowhere"), split="test")


def test_imagefolder(tmp_path):
    for c in ("cat", "dog"):
        (tmp_path / c).mkdir()
        for i in range(3):
            Image.fromarray(np.full((10, 12, 3), 40 * i, np.uint8)).save(tmp_path / c / f"{i}.png")
    d = load_dataset(f"imagefolder:{tmp_path}")
    assert d.x.shape == (6, 3, 10, 12) and d.y.tolist() == [0, 0, 0, 1, 1, 1]
    assert load_dataset(f"imagefolder:{tmp_path}", image_size=16).x.shape == (6, 3, 16, 16)
    (tmp_path / "dog" / "2.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match="cannot read image .*2.png"):
        load_dataset(f"imagefolder:{tmp_path}")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match="no class sub-folders"):
        load_dataset(f"imagefolder:{empty}")
    with pytest.raises(DatasetError, match="folder not found"):
        load_dataset(f"imagefolder:{tmp_path / 'nope'}")


def test_cifar_missing_files_is_clear(tmp_path):
    with pytest.raises(DatasetError, match="dataset cifar10: .*--download"):
        load_dataset("cifar10", data_dir=str(tmp_path))


def test_split_is_seeded_balanced_and_disjoint():
    d = load_dataset("digits")
    tr, va = train_val_split(d, val_size=200, seed=3, fraction=0.5)
    tr2, va2 = train_val_split(d, val_size=200, seed=3, fraction=0.5)
    assert torch.equal(va.y, va2.y) and torch.equal(tr.x, tr2.x)
    assert va.y.bincount().tolist() == [20] * 10
    # Disjoint: give every image a unique pixel pattern (its index) and compare.
    from dataclasses import replace
    n = len(d)
    coded = replace(d, x=torch.stack([(torch.arange(n) >> (8 * k)) & 255 for k in range(2)], 1)
                    .to(torch.uint8)[:, :, None, None].expand(n, 2, 1, 1).contiguous())
    ctr, cva = train_val_split(coded, val_size=200, seed=3, fraction=0.5)
    ids = lambda t: set((t.x[:, 0, 0, 0].long() + 256 * t.x[:, 1, 0, 0].long()).tolist())  # noqa: E731
    assert not ids(ctr) & ids(cva) and len(ids(cva)) == 200
    assert abs(len(tr) - (1797 - 200) / 2) < 10
    other, _ = train_val_split(d, val_size=200, seed=4, fraction=0.5)
    assert not torch.equal(other.y, tr.y)


def test_augment_crops_and_flips():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    g = torch.Generator().manual_seed(0)
    out = _augment(x, g)
    assert out.shape == x.shape
    assert not torch.equal(out, x)
    # Every output row is a (possibly flipped) shifted window of the zero-padded input.
    assert set(out.unique().tolist()) <= set(x.unique().tolist()) | {0.0}


def test_augment_equals_reference_crop_and_flip():
    import torch.nn.functional as F
    x = torch.randint(0, 255, (16, 3, 10, 12), dtype=torch.uint8)
    out = _augment(x, torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)  # same draws, in the same order: dy, dx, flip
    dy, dx = torch.randint(0, 9, (16,), generator=g), torch.randint(0, 9, (16,), generator=g)
    flip = torch.rand(16, generator=g) < 0.5
    padded = F.pad(x, (4, 4, 4, 4))
    for i in range(16):
        ref = padded[i, :, dy[i]:dy[i] + 10, dx[i]:dx[i] + 12]
        if flip[i]:
            ref = ref.flip(-1)
        assert torch.equal(out[i], ref)
