"""event_fashion_mnist: the idx reader, sampling, splits and encoding; no network.

The tests write tiny Fashion-MNIST files (30 training and 10 test images, 28x28, labels
0..9) in the official gzip-compressed idx format and point the loader at them with ``root``
or ``$LIQUIDTORCH_FASHION_MNIST``. One test reads the real files where the Debian package
dataset-fashion-mnist installed them, and is skipped elsewhere.
"""

import gzip
import socket
import struct
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

from liquidtorch.data import Metric, TaskKind, events, list_tasks
from liquidtorch.data._registry import get_task

NAME = "event_fashion_mnist"
REAL = Path("/usr/share/datasets/fashion-mnist")
FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
SMALL = {"n_train": 20, "n_test": 10}  # 17 train + 3 validation of 30, all 10 test images


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("LIQUIDTORCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(events.FASHION_ENV, raising=False)

    def no_network(*args, **kwargs):
        raise AssertionError("a test tried to use the network")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)


def _idx_bytes(array: np.ndarray) -> bytes:
    """An array of unsigned bytes in the idx format: magic 0x0000 08 ndim, sizes, data."""
    array = np.asarray(array, dtype=np.uint8)
    header = struct.pack(">I", 0x0800 | array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def _write(path: Path, raw: bytes) -> None:
    with gzip.open(path, "wb") as f:
        f.write(raw)


@pytest.fixture
def fake(tmp_path):
    """A directory with the four files; returns (root, {"train": (images, labels), ...})."""
    rng = np.random.default_rng(0)
    root = tmp_path / "fashion"
    root.mkdir()
    data = {}
    for split, n in (("train", 30), ("test", 10)):
        # Random pixels, denser in some images than others: from a few events to over 256.
        density = np.linspace(0.02, 0.6, n)[rng.permutation(n), None, None]
        pixels = rng.integers(0, 256, (n, 28, 28))
        images = np.where(rng.random((n, 28, 28)) < density, pixels, 0).astype(np.uint8)
        labels = rng.permutation(np.arange(n) % 10).astype(np.uint8)
        _write(root / FILES[f"{split}_images"], _idx_bytes(images))
        _write(root / FILES[f"{split}_labels"], _idx_bytes(labels))
        data[split] = (images, labels)
    return root, data


def _load(root, **options):
    return get_task(NAME, root=root, **(SMALL | options))


def _splits(task):
    return {"train": task.train, "val": task.val, "test": task.test}


# --- the idx reader ------------------------------------------------------------------------


def test_read_idx_gz_round_trip(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    _write(tmp_path / "a.gz", _idx_bytes(images))
    got = events.read_idx_gz(tmp_path / "a.gz", 3)
    assert got.dtype == np.uint8 and got.flags.writeable
    assert np.array_equal(got, images)
    _write(tmp_path / "b.gz", _idx_bytes(np.array([3, 1, 4], dtype=np.uint8)))
    assert events.read_idx_gz(tmp_path / "b.gz", 1).tolist() == [3, 1, 4]


# --- the task -------------------------------------------------------------------------------


def test_task_shapes_and_contract(fake):
    root, _ = fake
    task = _load(root)
    assert NAME in list_tasks()
    assert task.name == NAME and task.kind is TaskKind.CLASSIFICATION
    assert task.metric is Metric.ACCURACY and not task.per_step and task.irregular
    assert (task.input_size, task.output_size) == (1, 10)
    assert task.source and "dataset-fashion-mnist" in task.source
    assert "apt-get install dataset-fashion-mnist" in task.description
    assert "n_train=20 (default 6000) of the 30 training images" in task.description
    assert "17 train and 3 validation" in task.description
    assert "n_test=10 (default 2000) of the 10 test images" in task.description
    assert {"units", "epochs", "lr", "batch_size"} <= set(task.defaults)
    assert {s: len(d) for s, d in _splits(task).items()} == {"train": 17, "val": 3, "test": 10}
    steps = {d.x.shape[1] for d in _splits(task).values()}
    assert len(steps) == 1, "all splits are padded to the same length"
    for d in _splits(task).values():
        n, t, f = d.x.shape
        assert f == 1 and t <= 256 and d.x.dtype == torch.float32
        assert d.y.dtype == torch.int64 and d.y.shape == (n,)
        assert d.timespans.shape == (n, t) and d.timespans.dtype == torch.float32
        assert d.lengths.dtype == torch.int64 and d.lengths.max() <= t and d.lengths.min() >= 1
        valid = torch.arange(t) < d.lengths[:, None]
        assert (d.x[~valid] == 0).all() and (d.timespans[~valid] == 1).all()
        assert set(d.x[valid].unique().tolist()) <= {0.0, 1.0}
        assert (d.timespans[valid] >= 1).all()
        # The events lie within the 784 pixels: the last one at pixel sum(elapsed) - 1.
        assert ((d.timespans * valid).sum(1) <= 784).all()
    assert int(max(d.lengths.max() for d in _splits(task).values())) == 256  # dense ones cut
    assert set(task.test.y.tolist()) == set(range(10))


def _positions(d, i):
    n = int(d.lengths[i])
    values = d.x[i, :n, 0].long().numpy()
    at = np.cumsum(d.timespans[i, :n].long().numpy()) - 1  # the pixel of each event
    return values, at


def test_streams_reproduce_the_images_and_keep_the_labels(fake):
    root, data = fake
    raw = events._fashion_data(
        root, seed=0, threshold=128, max_events=256, val_fraction=0.15, **SMALL
    )
    task = _load(root)
    checked_cut = checked_whole = 0
    for s, d in _splits(task).items():
        images, labels = data["test" if s == "test" else "train"]
        index = raw[f"{s}_index"]
        assert torch.equal(d.y, torch.as_tensor(labels[index.numpy()], dtype=torch.int64))
        for i in range(len(d)):
            binary = (images[int(index[i])].ravel() > 128).astype(int)
            values, at = _positions(d, i)
            assert at[0] == 0 and (np.diff(at) > 0).all()
            assert (binary[at] == values).all()
            # Between events the pixels stay as the event set them; changes only at events.
            end = 784 if len(values) < 256 else at[-1] + 1
            assert (np.flatnonzero(np.diff(binary[:end]) != 0) + 1).tolist() == at[1:].tolist()
            if len(values) < 256:
                checked_whole += 1
            else:
                checked_cut += 1
    assert checked_whole and checked_cut


def test_splits_are_disjoint_balanced_and_deterministic(fake, tmp_path, monkeypatch):
    root, data = fake
    opts = {"seed": 0, "threshold": 128, "max_events": 256, "val_fraction": 0.15}
    a = events._fashion_data(root, **opts, **SMALL)
    train, val, test = (set(a[f"{s}_index"].tolist()) for s in ("train", "val", "test"))
    assert not train & val and len(train) == 17 and len(val) == 3
    assert train | val <= set(range(30)) and test == set(range(10))
    train_labels = data["train"][1]
    # Class-balanced: 20 of 30 images with 3 per class are 2 per class; validation 3 classes.
    assert np.bincount(train_labels[sorted(train | val)], minlength=10).tolist() == [2] * 10
    assert len(set(train_labels[sorted(val)].tolist())) == 3
    # Deterministic: rebuilt in a fresh cache, the same; another seed, another sample.
    monkeypatch.setenv("LIQUIDTORCH_CACHE", str(tmp_path / "other-cache"))
    b = events._fashion_data(root, **opts, **SMALL)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    c = events._fashion_data(root, **(opts | {"seed": 1}), **SMALL)
    assert not torch.equal(a["train_index"], c["train_index"])
    # A smaller sample is part of a larger one (same seed); test images too.
    small = events._fashion_data(root, **opts, n_train=10, n_test=5)
    assert set(small["train_index"].tolist()) | set(small["val_index"].tolist()) <= train | val
    assert set(small["test_index"].tolist()) <= test
    assert np.bincount(data["test"][1][small["test_index"].numpy()]).max() == 1


def test_encoding_options(fake):
    root, _ = fake
    base = _load(root)
    capped = _load(root, max_events=5)
    assert capped.train.x.shape[1] == 5 and int(capped.train.lengths.max()) == 5
    for s, d in _splits(capped).items():
        full = _splits(base)[s]
        assert torch.equal(d.lengths, full.lengths.clamp(max=5))
        assert torch.equal(d.x, full.x[:, :5]) and torch.equal(d.y, full.y)
        assert torch.equal(d.timespans, full.timespans[:, :5])
    assert "at most 5 are kept" in capped.description
    low, high = _load(root, threshold=10), _load(root, threshold=250)
    assert not torch.equal(low.train.lengths, high.train.lengths)
    assert "pixel > 250 is 1" in high.description
    val = _load(root, val_fraction=0.5)
    assert (len(val.train), len(val.val)) == (10, 10)


def test_cache_is_read_and_keyed_by_options_and_files(fake, count_builds):
    root, data = fake
    builds = count_builds(events)
    first = _load(root)
    again = _load(root)
    assert len(builds) == 1, "the second load must read the cache"
    for s, d in _splits(first).items():
        assert torch.equal(d.x, _splits(again)[s].x)
    _load(root, threshold=100)
    _load(root, n_test=5)
    assert len(builds) == 3
    # Another file (here: one more test image) is another key.
    images, labels = data["test"]
    _write(root / FILES["test_images"], _idx_bytes(np.concatenate([images, images[:1]])))
    _write(root / FILES["test_labels"], _idx_bytes(np.concatenate([labels, labels[:1]])))
    _load(root)
    assert len(builds) == 4
    assert all(f"root={root.resolve()}" in key for key in builds)


def test_root_from_the_environment(fake, monkeypatch):
    root, _ = fake
    monkeypatch.setenv(events.FASHION_ENV, str(root))
    task = get_task(NAME, **SMALL)
    assert torch.equal(task.test.x, _load(root).test.x)


# --- errors ---------------------------------------------------------------------------------


def test_missing_files_say_what_and_how_to_get_them(tmp_path, fake, monkeypatch):
    root, _ = fake
    (root / FILES["test_labels"]).unlink()
    with pytest.raises(FileNotFoundError) as err:
        _load(root)
    message = str(err.value)
    assert f"{root} (passed as root) lacks t10k-labels-idx1-ubyte.gz." in message
    assert "train-images-idx3-ubyte.gz" not in message.splitlines()[0]
    assert "apt-get install dataset-fashion-mnist" in message
    assert "https://github.com/zalandoresearch/fashion-mnist" in message
    for name in FILES.values():
        assert name in message
    assert "root=DIR" in message and f"{events.FASHION_ENV}=DIR" in message

    nowhere = tmp_path / "nowhere"
    monkeypatch.setenv(events.FASHION_ENV, str(nowhere))
    with pytest.raises(
        FileNotFoundError, match=r"\(from \$LIQUIDTORCH_FASHION_MNIST\) does not exist"
    ):
        get_task(NAME)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError) as err:
        get_task(NAME, root=empty)
    assert ", ".join(FILES.values()) in str(err.value).splitlines()[0]


def _truncated_gzip(path, images, labels):
    _write(path, _idx_bytes(images))
    path.write_bytes(path.read_bytes()[:-30])


@pytest.mark.parametrize(
    "file,corrupt,match",
    [
        (
            "train_images",
            lambda p, im, lb: _write(p, _idx_bytes(im.reshape(30, -1))),
            r"magic number 0x00000802, expected 0x00000803",
        ),
        (
            "train_labels",
            lambda p, im, lb: _write(p, _idx_bytes(im)),
            r"magic number 0x00000803, expected 0x00000801",
        ),
        (
            "train_images",
            lambda p, im, lb: _write(p, _idx_bytes(im)[:-100]),
            r"truncated: \d+ bytes uncompressed, expected 23536 for an idx array of shape "
            r"\(30, 28, 28\)",
        ),
        ("train_labels", lambda p, im, lb: _write(p, b"\x00\x00\x08"), "only 3 bytes"),
        ("train_labels", lambda p, im, lb: _write(p, _idx_bytes(lb)[:6]), "truncated idx header"),
        ("train_images", _truncated_gzip, "not a readable gzip file"),
        ("train_labels", lambda p, im, lb: p.write_bytes(_idx_bytes(lb)), "not a readable gzip"),
        ("train_labels", lambda p, im, lb: _write(p, _idx_bytes(lb[:29])), "but .* 29 labels"),
        ("train_labels", lambda p, im, lb: _write(p, _idx_bytes(lb + 1)), "label 10 is not a"),
        (
            "train_images",
            lambda p, im, lb: _write(p, _idx_bytes(im[:, :27])),
            r"images of \(27, 28\) pixels, not 28x28",
        ),
    ],
)
def test_malformed_files_name_the_file(fake, file, corrupt, match):
    root, data = fake
    path = root / FILES[file]
    corrupt(path, *data["train"])
    with pytest.raises(ValueError, match=match) as err:
        _load(root)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    "options,match",
    [
        ({"n_train": 31}, r"n_train=31, but .*train-images-idx3-ubyte.gz holds only 30 images"),
        ({"n_test": 11}, r"n_test=11, but .*t10k-images-idx3-ubyte.gz holds only 10 images"),
        ({"n_test": 0}, "n_test must be >= 1"),
        ({"n_train": 1}, "leaves 0 validation and 1 training images"),
        ({"val_fraction": 1.0}, r"val_fraction must be in \(0, 1\)"),
        ({"max_events": 0}, "max_events must be >= 1"),
    ],
)
def test_bad_options(fake, options, match):
    root, _ = fake
    with pytest.raises(ValueError, match=match):
        _load(root, **options)


# --- the real files ---------------------------------------------------------------------------


@pytest.mark.data
@pytest.mark.skipif(
    not all((REAL / name).is_file() for name in FILES.values()),
    reason=f"Fashion-MNIST is not installed in {REAL} (apt-get install dataset-fashion-mnist)",
)
def test_real_fashion_mnist():
    task = get_task(NAME)  # the defaults: 6000 training images (900 validation), 2000 test
    assert {s: len(d) for s, d in _splits(task).items()} == {
        "train": 5100,
        "val": 900,
        "test": 2000,
    }
    assert "of the 60000 training images" in task.description
    assert "of the 10000 test images" in task.description
    for s, d in _splits(task).items():
        assert d.x.shape == (len(d), 256, 1) and d.timespans.shape == (len(d), 256), s
        counts = d.y.bincount(minlength=10)
        assert len(counts) == 10 and (counts == len(d) // 10).all(), s  # class-balanced
        assert d.lengths.min() >= 1 and d.lengths.max() <= 256
