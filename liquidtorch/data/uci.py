"""UCI activity data: smartphone HAR (per-sequence) and person activity (per-step, irregular).

Both are downloaded from the UCI archive on first use (not possible offline: the error then
says where to put the file) and read from a local directory ``root`` (default:
``<cache>/uci_har`` and ``<cache>/person_activity``); files already there are used as is.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import torch

from ._registry import register
from ._task import Metric, SequenceData, Task, TaskKind, cache_dir, cached, split_indices
from .downloads import download as _download
from .downloads import missing_file_message, reading_archive

_ORIGIN = "download (UCI)"  # where the data comes from (`liquidtorch tasks`)

_VERSION = "v1"

# --------------------------------------------------------------------------- UCI HAR

HAR_URL = (
    "https://archive.ics.uci.edu/static/public/240/human+activity+recognition+using+smartphones.zip"
)
HAR_ZIP = "human+activity+recognition+using+smartphones.zip"
HAR_DIR = "UCI HAR Dataset"
HAR_SIGNALS = tuple(
    f"{kind}_{axis}" for kind in ("body_acc", "body_gyro", "total_acc") for axis in "xyz"
)
HAR_CLASSES = (
    "walking",
    "walking upstairs",
    "walking downstairs",
    "sitting",
    "standing",
    "laying",
)


def _har_reader(root: Path, download_ok: bool):
    """A function ``read(relative path) -> text`` over the extracted tree or the zip."""
    tree = root / HAR_DIR
    if (tree / "train" / "y_train.txt").is_file():
        return lambda rel: (tree / rel).read_text()
    zips = [root / HAR_ZIP, root / f"{HAR_DIR}.zip"]
    found = next((z for z in zips if z.is_file()), None)
    if found is None:
        if not download_ok:
            raise FileNotFoundError(
                missing_file_message("UCI HAR data", [zips[0], tree / "train"], [HAR_URL])
            )
        found = _download(HAR_URL, zips[0], what="the UCI HAR dataset (zip, ~60 MB)")
    what = "the UCI HAR zip"
    with reading_archive(found, what):
        archive = zipfile.ZipFile(found)
        names = set(archive.namelist())
        if f"{HAR_DIR}/train/y_train.txt" not in names:
            # The archive's current zip wraps "UCI HAR Dataset.zip"; read that one in memory.
            inner = next((n for n in names if n.endswith(f"{HAR_DIR}.zip")), None)
            if inner is None:
                raise ValueError(
                    f"{what} at {found} holds neither '{HAR_DIR}/' nor '{HAR_DIR}.zip'; delete "
                    "it and run again to download a fresh copy"
                )
            archive = zipfile.ZipFile(io.BytesIO(archive.read(inner)))

    def read(rel: str) -> str:
        with reading_archive(found, what):
            return archive.read(f"{HAR_DIR}/{rel}").decode()

    return read


def _numbers(text: str, dtype) -> np.ndarray:
    return np.array(text.split(), dtype=np.float64).astype(dtype)


def _read_har(root: Path, download_ok: bool) -> dict[str, torch.Tensor]:
    read = _har_reader(root, download_ok)
    out = {}
    for part in ("train", "test"):
        signals = [
            _numbers(read(f"{part}/Inertial Signals/{s}_{part}.txt"), np.float32)
            for s in HAR_SIGNALS
        ]
        y = _numbers(read(f"{part}/y_{part}.txt"), np.int64) - 1
        subject = _numbers(read(f"{part}/subject_{part}.txt"), np.int64)
        x = np.stack([s.reshape(len(y), -1) for s in signals], axis=-1)  # (n, 128, 9)
        out[f"x_{part}"] = torch.from_numpy(x)
        out[f"y_{part}"] = torch.from_numpy(y)
        out[f"subject_{part}"] = torch.from_numpy(subject)
    return out


@register(
    "uci_har",
    "UCI HAR smartphone activities: 9 inertial channels x 128 steps, 6 classes",
    origin=_ORIGIN,
)
def uci_har(
    *, seed: int = 0, root: str | Path | None = None, download: bool = True, val_subjects=0.2
) -> Task:
    """UCI Human Activity Recognition Using Smartphones (Anguita et al. 2013).

    The raw inertial signals (body acc, body gyro, total acc; x, y, z): x (n, 128, 9),
    standardised per channel with training statistics; y (n,) in 0..5. The official
    train/test split (by subject) is kept; a fraction ``val_subjects`` of the training
    subjects (seeded) forms the validation split.
    """
    root = Path(root) if root is not None else cache_dir() / "uci_har"
    key = f"uci_har/{_VERSION}/root={root.resolve()}"
    data = cached(key, lambda: _read_har(root, download))
    subjects = data["subject_train"].unique()
    pick, _, _ = split_indices(len(subjects), (val_subjects, 1 - val_subjects, 0.0), seed)
    is_val = torch.isin(data["subject_train"], subjects[pick])
    x_train = data["x_train"][~is_val]
    mean, std = x_train.mean((0, 1)), x_train.std((0, 1)).clamp_min(1e-8)
    norm = lambda x: (x - mean) / std
    return Task(
        name="uci_har",
        kind=TaskKind.CLASSIFICATION,
        metric=Metric.ACCURACY,
        per_step=False,
        input_size=len(HAR_SIGNALS),
        output_size=len(HAR_CLASSES),
        train=SequenceData(norm(x_train), data["y_train"][~is_val]),
        val=SequenceData(norm(data["x_train"][is_val]), data["y_train"][is_val]),
        test=SequenceData(norm(data["x_test"]), data["y_test"]),
        description=(
            "Classify 2.56 s windows (128 steps at 50 Hz, 50% overlap) of 9 smartphone "
            "inertial channels into 6 activities: " + ", ".join(HAR_CLASSES) + ". Official "
            "train/test split by subject; validation = held-out training subjects; "
            "channels standardised with training statistics."
        ),
        source=f"UCI ML repository, dataset 240 (CC BY 4.0): {HAR_URL}",
        defaults={"units": 64, "epochs": 30, "lr": 5e-3, "batch_size": 64, "schedule": "cosine"},
    )


# ------------------------------------------------------------------ person activity

PERSON_URLS = (
    "https://archive.ics.uci.edu/ml/machine-learning-databases/00196/ConfLongDemo_JSI.txt",
    "https://archive.ics.uci.edu/static/public/196/localization+data+for+person+activity.zip",
)
PERSON_FILE = "ConfLongDemo_JSI.txt"
PERSON_TAGS = ("010-000-024-033", "010-000-030-096", "020-000-033-111", "020-000-032-221")
PERSON_TAG_NAMES = ("ankle left", "ankle right", "chest", "belt")
# The LTC paper's 7 classes (11 raw labels merged as in its reference code).
PERSON_CLASSES = (
    "lying",
    "sitting",
    "standing up",
    "walking",
    "falling",
    "on all fours",
    "sitting on the ground",
)
_PERSON_LABELS = {
    "lying down": 0,
    "lying": 0,
    "sitting down": 1,
    "sitting": 1,
    "standing up from lying": 2,
    "standing up from sitting": 2,
    "standing up from sitting on the ground": 2,
    "walking": 3,
    "falling": 4,
    "on all fours": 5,
    "sitting on the ground": 6,
}
_TICKS_PER_UNIT = 1_000_000  # timestamps are 100 ns ticks; timespans in units of 0.1 s


def _person_text(root: Path, download_ok: bool) -> str:
    txt, zipped = root / PERSON_FILE, root / "localization+data+for+person+activity.zip"
    if not txt.is_file() and zipped.is_file():
        with reading_archive(zipped, "the UCI person activity zip"), zipfile.ZipFile(zipped) as z:
            member = next(n for n in z.namelist() if n.endswith(PERSON_FILE))
            return z.read(member).decode()
    if not txt.is_file():
        if not download_ok:
            raise FileNotFoundError(
                missing_file_message("ConfLongDemo_JSI.txt", [txt], PERSON_URLS)
            )
        # The first mirror is the text file itself; a zip from the second is unpacked.
        got = _download(
            PERSON_URLS, txt, what="the UCI person activity data (ConfLongDemo_JSI.txt)"
        )
        if zipfile.is_zipfile(got):
            with reading_archive(got, "the UCI person activity zip"), zipfile.ZipFile(got) as z:
                member = next(n for n in z.namelist() if n.endswith(PERSON_FILE))
                text = z.read(member)
            from ..train._io import write_bytes_atomic  # train imports data: at call time

            write_bytes_atomic(got, text)
    return txt.read_text()


def _read_person(root: Path, download_ok: bool) -> dict[str, torch.Tensor]:
    """One row per line: recording index, tag id, tick, x, y, z, class."""
    recordings: dict[str, int] = {}
    rec, tag, tick, xyz, label = [], [], [], [], []
    for n, line in enumerate(_person_text(root, download_ok).splitlines(), start=1):
        if not line.strip():
            continue
        f = line.strip().split(",")
        if len(f) != 8 or f[1] not in PERSON_TAGS or f[7] not in _PERSON_LABELS:
            raise ValueError(f"{PERSON_FILE} line {n}: unexpected format: {line!r}")
        rec.append(recordings.setdefault(f[0], len(recordings)))
        tag.append(PERSON_TAGS.index(f[1]))
        tick.append(int(f[2]))
        xyz.append([float(v) for v in f[4:7]])
        label.append(_PERSON_LABELS[f[7]])
    return {
        "recording": torch.tensor(rec),
        "tag": torch.tensor(tag),
        "tick": torch.tensor(tick, dtype=torch.int64),
        "xyz": torch.tensor(xyz, dtype=torch.float32),
        "label": torch.tensor(label),
    }


@register(
    "person_activity",
    "UCI person activity: per-step 7-class activity from 4 tags (irregular)",
    origin=_ORIGIN,
)
def person_activity(
    *,
    seed: int = 0,
    root: str | Path | None = None,
    download: bool = True,
    seq_len: int = 32,
) -> Task:
    """Localization Data for Person Activity (Kaluza et al. 2010), LTC paper set-up.

    Each line of ConfLongDemo_JSI.txt is one reading of one of 4 tags (ankles, chest,
    belt): step features = one-hot tag id (4) + position x, y, z (3, standardised with
    training statistics); per-step target = one of 7 activities. Recordings are cut into
    windows of ``seq_len`` readings (stride ``seq_len // 2`` for training, none for
    validation/test) and split by recording (70/15/15 %), so no window straddles two
    splits. Timespans: time since the previous reading of the recording in units of 0.1 s
    (readings arrive irregularly); the first reading gets the recording's median.
    """
    root = Path(root) if root is not None else cache_dir() / "person_activity"
    key = f"person_activity/{_VERSION}/root={root.resolve()}"
    data = cached(key, lambda: _read_person(root, download))
    n_rec = int(data["recording"].max()) + 1
    splits = split_indices(n_rec, seed=seed)
    if min(len(s) for s in splits) == 0:
        raise ValueError(f"{n_rec} recordings leave a split empty (70/15/15 %): need >= 6")

    series = []
    for r in range(n_rec):
        rows = torch.nonzero(data["recording"] == r).flatten()
        rows = rows[torch.argsort(data["tick"][rows], stable=True)]  # time order
        gaps = data["tick"][rows].diff().double() / _TICKS_PER_UNIT
        first = gaps.median() if len(gaps) else torch.tensor(1.0, dtype=torch.float64)
        # Readings of two tags can share a timestamp; the layers need elapsed time > 0.
        spans = torch.cat([first.reshape(1), gaps]).clamp_min(1e-3).float()
        onehot = torch.nn.functional.one_hot(data["tag"][rows], len(PERSON_TAGS)).float()
        series.append((onehot, data["xyz"][rows], data["label"][rows], spans))

    train_xyz = torch.cat([series[int(r)][1] for r in splits[0]])
    mean, std = train_xyz.mean(0), train_xyz.std(0).clamp_min(1e-8)

    def split(index: torch.Tensor, stride: int) -> SequenceData:
        xs, ys, ts = [], [], []
        for r in index.tolist():
            onehot, xyz, label, spans = series[r]
            x = torch.cat([onehot, (xyz - mean) / std], dim=-1)
            for s in range(0, len(label) - seq_len + 1, stride):
                xs.append(x[s : s + seq_len])
                ys.append(label[s : s + seq_len])
                ts.append(spans[s : s + seq_len])
        if not xs:
            raise ValueError(f"no recording in a split is as long as seq_len={seq_len}")
        return SequenceData(torch.stack(xs), torch.stack(ys), torch.stack(ts))

    return Task(
        name="person_activity",
        kind=TaskKind.CLASSIFICATION,
        metric=Metric.ACCURACY,
        per_step=True,
        input_size=len(PERSON_TAGS) + 3,
        output_size=len(PERSON_CLASSES),
        train=split(splits[0], max(1, seq_len // 2)),
        val=split(splits[1], seq_len),
        test=split(splits[2], seq_len),
        description=(
            "Per-step classification of 7 activities (" + ", ".join(PERSON_CLASSES) + ") "
            "from irregularly arriving readings of 4 body tags: one-hot tag id + "
            "standardised x, y, z; timespans in units of 0.1 s. Windows of "
            f"{seq_len} readings, split by recording (LTC paper set-up; the paper's "
            "random window split would leak overlapping windows)."
        ),
        source=f"UCI ML repository, dataset 196 (CC BY 4.0): {PERSON_URLS[0]}",
        irregular=True,
        defaults={"units": 64, "epochs": 30, "lr": 5e-3, "batch_size": 64, "schedule": "cosine"},
    )
