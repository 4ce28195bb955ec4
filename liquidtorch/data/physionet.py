"""PhysioNet/CinC Challenge 2012 (set a): in-hospital mortality from 48 h of ICU data.

Irregularly sampled and sparsely observed: each patient file lists ``Time,Parameter,Value``
lines (time ``HH:MM`` since ICU admission). The data are downloaded from physionet.org on
first use (not possible offline: the error then says where to put the files) and read from
``root`` (default ``<cache>/physionet2012``): either the extracted ``set-a/`` directory or
``set-a.tar.gz``, plus ``Outcomes-a.txt``.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from pathlib import Path

import torch

from ._registry import register
from ._task import Metric, SequenceData, Task, TaskKind, cache_dir, cached, split_indices
from .downloads import download as _download
from .downloads import missing_file_message, reading_archive

_ORIGIN = "download (PhysioNet)"  # where the data comes from (`liquidtorch tasks`)

_VERSION = "v1"
_BASE = "https://physionet.org/files/challenge-2012/1.0.0/"
SET_A_URL = _BASE + "set-a.tar.gz?download"
OUTCOMES_URL = _BASE + "Outcomes-a.txt?download"

# The 41 variables of the latent-ODE / mTAN / CfC set-ups: 4 general descriptors recorded
# at admission, then the 37 time series (Weight is both).
PARAMS = (
    "Age", "Gender", "Height", "ICUType", "Weight", "Albumin", "ALP", "ALT", "AST",
    "Bilirubin", "BUN", "Cholesterol", "Creatinine", "DiasABP", "FiO2", "GCS", "Glucose",
    "HCO3", "HCT", "HR", "K", "Lactate", "Mg", "MAP", "MechVent", "Na", "NIDiasABP", "NIMAP",
    "NISysABP", "PaCO2", "PaO2", "pH", "Platelets", "RespRate", "SaO2", "SysABP", "Temp",
    "TroponinI", "TroponinT", "Urine", "WBC",
)  # fmt: skip
_PARAM_INDEX = {p: i for i, p in enumerate(PARAMS)}
_HORIZON_MIN = 48 * 60  # the challenge's window: the first 48 h after admission
_DESCRIPTORS = {"Age", "Gender", "Height", "ICUType", "Weight"}  # -1 means "unknown" there


def _patient_files(root: Path, download_ok: bool) -> Iterator[tuple[str, str]]:
    """(file name, text) of every patient file, from ``set-a/`` or ``set-a.tar.gz``."""
    folder, tar = root / "set-a", root / "set-a.tar.gz"
    if folder.is_dir() and any(folder.glob("*.txt")):
        for path in sorted(folder.glob("*.txt")):
            yield path.name, path.read_text()
        return
    if not tar.is_file():
        if not download_ok:
            raise FileNotFoundError(
                missing_file_message("PhysioNet 2012 set-a", [tar, folder], [SET_A_URL])
            )
        _download(SET_A_URL, tar, what="PhysioNet 2012 set-a (set-a.tar.gz, ~7 MB)")
    with reading_archive(tar, "PhysioNet 2012 set-a"), tarfile.open(tar, "r:gz") as archive:
        for member in sorted(archive.getmembers(), key=lambda m: m.name):
            if member.isfile() and member.name.endswith(".txt"):
                yield Path(member.name).name, archive.extractfile(member).read().decode()


def _outcomes(root: Path, download_ok: bool) -> dict[int, int]:
    path = root / "Outcomes-a.txt"
    if not path.is_file():
        if not download_ok:
            raise FileNotFoundError(missing_file_message("Outcomes-a.txt", [path], [OUTCOMES_URL]))
        _download(OUTCOMES_URL, path, what="PhysioNet 2012 outcomes (Outcomes-a.txt)")
    try:
        lines = path.read_text().split()
        header = lines[0].split(",")
        rid, death = header.index("RecordID"), header.index("In-hospital_death")
        rows = [line.split(",") for line in lines[1:]]
        return {int(r[rid]): int(r[death]) for r in rows}
    except (IndexError, ValueError, UnicodeDecodeError) as e:
        raise ValueError(
            f"PhysioNet 2012 outcomes at {path} are corrupt or not Outcomes-a.txt "
            f"({' '.join(str(e).split())[:200]}); delete the file and run again to download it"
        ) from None


def _parse_patient(name: str, text: str):
    """Record id and the observations ``(minute, param index, value)`` of one file."""
    lines = text.split()
    if not lines or lines[0].strip() != "Time,Parameter,Value":
        raise ValueError(f"{name}: expected the header 'Time,Parameter,Value'")
    record_id, obs = None, []
    for line in lines[1:]:
        time, param, value = line.split(",")
        hours, minutes = time.split(":")
        if param == "RecordID":
            record_id = int(float(value))
        elif param in _PARAM_INDEX:
            v = float(value)
            if param in _DESCRIPTORS and v == -1:
                continue
            minute = int(hours) * 60 + int(minutes)
            if minute <= _HORIZON_MIN:
                obs.append((minute, _PARAM_INDEX[param], v))
    if record_id is None:
        record_id = int(Path(name).stem)
    return record_id, obs


def _read(root: Path, download_ok: bool) -> dict[str, torch.Tensor]:
    """Long format: one row per (patient, step, parameter) with the step times apart."""
    outcomes = _outcomes(root, download_ok)
    ids, labels, lengths, times = [], [], [], []
    o_patient, o_step, o_param, o_value = [], [], [], []
    for name, text in _patient_files(root, download_ok):
        record_id, obs = _parse_patient(name, text)
        if not obs:  # nothing observed at all: nothing to classify from
            continue
        if record_id not in outcomes:
            raise ValueError(f"record {record_id} ({name}) has no entry in Outcomes-a.txt")
        minutes = sorted({m for m, _, _ in obs})
        step_of = {m: i for i, m in enumerate(minutes)}
        patient = len(ids)
        for m, p, v in obs:
            o_patient.append(patient)
            o_step.append(step_of[m])
            o_param.append(p)
            o_value.append(v)
        ids.append(record_id)
        labels.append(outcomes[record_id])
        lengths.append(len(minutes))
        times.append(minutes)
    if not ids:
        raise ValueError(f"no PhysioNet patient files with observations under {root}")
    t = torch.zeros(len(ids), max(lengths))
    for i, minutes in enumerate(times):
        t[i, : len(minutes)] = torch.tensor(minutes, dtype=torch.float32)
    return {
        "record_id": torch.tensor(ids),
        "label": torch.tensor(labels),
        "lengths": torch.tensor(lengths),
        "minutes": t,
        "obs_patient": torch.tensor(o_patient),
        "obs_step": torch.tensor(o_step),
        "obs_param": torch.tensor(o_param),
        "obs_value": torch.tensor(o_value, dtype=torch.float64),
    }


def _sums(index: torch.Tensor, values: torch.Tensor, size: int) -> torch.Tensor:
    """``out[i] = sum of values[index == i]`` for i < size."""
    return torch.zeros(size, dtype=values.dtype).index_add_(0, index, values)


@register(
    "physionet2012",
    "PhysioNet 2012 in-hospital mortality: irregular ICU series (AUC)",
    origin=_ORIGIN,
)
def physionet2012(*, seed: int = 0, root: str | Path | None = None, download: bool = True) -> Task:
    """PhysioNet/CinC Challenge 2012, set a (4000 ICU stays), CfC paper set-up.

    One step per distinct observation time (minute resolution) within the first 48 h:
    x (n, steps, 82) = 41 variables (standardised with the training patients' observed
    values, 0 where unobserved; several values at one time are averaged) + their 41-wide
    observation mask. Timespans: hours since the previous step (the first: since
    admission, at least one minute); padded after ``lengths``. Target: in-hospital death
    (0/1, class indices); metric AUC. Patients split at random 70/15/15 %.
    """
    root = Path(root) if root is not None else cache_dir() / "physionet2012"
    data = cached(f"physionet2012/{_VERSION}/root={root.resolve()}", lambda: _read(root, download))
    n, steps = data["minutes"].shape
    n_params = len(PARAMS)
    # One value per (patient, step, variable): repeated measurements at one time averaged.
    flat = (data["obs_patient"] * steps + data["obs_step"]) * n_params + data["obs_param"]
    cells, inverse = torch.unique(flat, return_inverse=True)
    ones = torch.ones_like(data["obs_value"])
    value = _sums(inverse, data["obs_value"], len(cells)) / _sums(inverse, ones, len(cells))
    patient, param = cells // (steps * n_params), cells % n_params

    train, val, test = split_indices(n, seed=seed)
    in_train = torch.isin(patient, train)
    v, p = value[in_train], param[in_train]
    observed = _sums(p, torch.ones_like(v), n_params).clamp_min(1)
    mean = _sums(p, v, n_params) / observed
    std = (_sums(p, (v - mean[p]) ** 2, n_params) / observed).sqrt()
    std = torch.where(std > 1e-8, std, torch.ones_like(std))
    x = torch.zeros(n * steps, 2 * n_params)
    row = cells // n_params
    x[row, param] = ((value - mean[param]) / std[param]).float()
    x[row, n_params + param] = 1.0
    x = x.reshape(n, steps, 2 * n_params)

    lengths = data["lengths"]
    valid = torch.arange(steps) < lengths[:, None]
    minutes = data["minutes"]
    gaps = torch.diff(minutes, dim=1, prepend=torch.zeros(n, 1)).clamp_min(1.0) / 60.0
    timespans = torch.where(valid, gaps, torch.ones(()))
    everything = SequenceData(x, data["label"], timespans, lengths)
    positives = float(data["label"].float().mean())
    return Task(
        name="physionet2012",
        kind=TaskKind.CLASSIFICATION,
        metric=Metric.AUC,
        per_step=False,
        input_size=2 * n_params,
        output_size=2,
        train=everything.subset(train),
        val=everything.subset(val),
        test=everything.subset(test),
        description=(
            "Predict in-hospital death from the first 48 h of an ICU stay: 41 irregularly "
            "and sparsely sampled variables (standardised values + observation mask, 82 "
            "features), one step per observation time, timespans in hours. "
            f"{n} patients, {positives:.1%} positive; metric AUC."
        ),
        source=(
            "PhysioNet/CinC Challenge 2012 set a (Silva et al. 2012; ODC-By 1.0): "
            f"{SET_A_URL}, {OUTCOMES_URL}"
        ),
        irregular=True,
        defaults={"units": 64, "epochs": 30, "lr": 5e-3, "batch_size": 64, "schedule": "cosine"},
    )
