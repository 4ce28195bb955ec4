"""Downloaded data sets, parsed from small files in the official formats; no network.

Each test writes a few records exactly as the official archives lay them out (UCI HAR's
'UCI HAR Dataset' tree and the archive's nested zip, ConfLongDemo_JSI.txt, PhysioNet 2012
patient files and Outcomes-a.txt) and checks the loaders turn them into correct tasks.
Any real network access fails the test.
"""

import hashlib
import io
import json
import socket
import tarfile
import urllib.error
import urllib.request
import zipfile

import numpy as np
import pytest
import torch

from liquidtorch.data import get_task, physionet, uci
from liquidtorch.data.downloads import HASHES_FILE, ChecksumError, download


@pytest.fixture(autouse=True)
def _offline(tmp_path, monkeypatch):
    monkeypatch.setenv("LIQUIDTORCH_CACHE", str(tmp_path / "cache"))

    def no_network(*args, **kwargs):
        raise AssertionError("a test tried to use the network")

    # AssertionError is not an OSError: the download helper cannot swallow it.
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)


def _offline_urlopen(monkeypatch, seen):
    def fail(request, *args, **kwargs):
        seen.append(request.full_url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", fail)


def _affine(raw: torch.Tensor, scaled: torch.Tensor):
    """Per-column slope and intercept of ``scaled = slope * raw + intercept`` (exact fit)."""
    raw, scaled = raw.double(), scaled.double()
    slope = ((raw - raw.mean(0)) * (scaled - scaled.mean(0))).sum(0) / (
        (raw - raw.mean(0)) ** 2
    ).sum(0)
    intercept = scaled.mean(0) - slope * raw.mean(0)
    torch.testing.assert_close(slope * raw + intercept, scaled, atol=1e-4, rtol=1e-4)
    return slope, intercept


# ------------------------------------------------------------------- download helper


class _Response(io.BytesIO):
    def __init__(self, data: bytes):
        super().__init__(data)
        self.headers = {"Content-Length": str(len(data))}


def test_download_offline_message_names_url_and_path(tmp_path, monkeypatch):
    seen = []
    _offline_urlopen(monkeypatch, seen)
    dest = tmp_path / "data" / "file.zip"
    url = "https://example.org/files/file.zip"
    with pytest.raises(ConnectionError) as err:
        download(url, dest, what="the example file")
    message = str(err.value)
    assert url in message and str(dest) in message and "the example file" in message
    assert "name resolution" in message  # the underlying reason
    assert seen == [url]
    assert list(dest.parent.iterdir()) == []  # no partial file left behind


def test_download_mirrors_checksum_and_atomic_write(tmp_path, monkeypatch):
    payload = b"hello liquid" * 1000
    calls = []

    def urlopen(request, *args, **kwargs):
        calls.append(request.full_url)
        if "mirror1" in request.full_url:
            raise urllib.error.HTTPError(request.full_url, 503, "down", {}, None)
        return _Response(payload)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    dest = tmp_path / "f.bin"
    good = hashlib.sha256(payload).hexdigest()
    urls = ["https://mirror1.example/f.bin", "https://mirror2.example/f.bin"]
    assert download(urls, dest, sha256=good, what="f") == dest
    assert dest.read_bytes() == payload and calls == urls
    dest.unlink()
    with pytest.raises(ChecksumError, match="sha256 .* expected the pinned 0000"):
        download(urls[1], dest, sha256="0" * 64, what="f")
    assert not dest.exists() and list(tmp_path.iterdir()) == []


def test_download_without_pinned_hash_trusts_the_first_and_checks_later(tmp_path, monkeypatch):
    payloads = [b"first version", b"first version", b"tampered"]
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: _Response(payloads.pop(0)))
    dest = tmp_path / "d" / "f.txt"
    download("https://example.org/f.txt", dest, what="f")
    records = json.loads((tmp_path / "cache" / HASHES_FILE).read_text())
    assert records["f.txt"] == {
        "sha256": hashlib.sha256(b"first version").hexdigest(),
        "size": 13,
        "url": "https://example.org/f.txt",
    }
    dest.unlink()
    download("https://example.org/f.txt", dest, what="f")  # same content: accepted
    dest.unlink()
    with pytest.raises(ChecksumError, match="its first download had"):
        download("https://example.org/f.txt", dest, what="f")
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def test_download_replaces_a_planted_link_instead_of_writing_through_it(tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: _Response(b"data"))
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    dest = tmp_path / "f.bin"
    dest.symlink_to(victim)
    download(
        "https://example.org/f.bin", dest, sha256=hashlib.sha256(b"data").hexdigest(), what="f"
    )
    assert victim.read_text() == "precious"
    assert not dest.is_symlink() and dest.read_bytes() == b"data"


# ---------------------------------------------------------------------------- UCI HAR


def _har_value(v: float) -> str:
    """UCI HAR's number format: '  1.8085150e-004' (three-digit exponent)."""
    mantissa, exponent = f"{v:.7e}".split("e")
    return f"{'' if v < 0 else ' '} {mantissa}e{int(exponent):+04d}"


def _write_har(base, rng):
    """A 'UCI HAR Dataset' tree: train subjects 1,3,5,6,7 and test 2,4, two windows each."""
    raw = {}
    for part, subjects in (("train", [1, 3, 5, 6, 7]), ("test", [2, 4])):
        subject = np.repeat(subjects, 2)
        y = rng.integers(1, 7, len(subject))
        x = rng.normal(size=(len(subject), 128, 9)) * np.arange(1, 10)  # channel scales
        folder = base / part / "Inertial Signals"
        folder.mkdir(parents=True)
        for c, name in enumerate(uci.HAR_SIGNALS):
            lines = ["".join(_har_value(v) for v in row) for row in x[:, :, c]]
            (folder / f"{name}_{part}.txt").write_text("\n".join(lines) + "\n")
        (base / part / f"y_{part}.txt").write_text("".join(f"{v}\n" for v in y))
        (base / part / f"subject_{part}.txt").write_text("".join(f"{v}\n" for v in subject))
        raw[part] = (torch.tensor(x, dtype=torch.float32), torch.tensor(y), subject)
    return raw


def _match_rows(raw: torch.Tensor, got: torch.Tensor, slope, intercept):
    """Index into ``raw`` of every sequence of ``got`` (after undoing the scaling)."""
    unscaled = (got.double() - intercept) / slope
    dist = ((unscaled[:, None] - raw.double()[None]) ** 2).flatten(2).sum(-1)
    index = dist.argmin(1)
    assert (dist.min(1).values < 1e-4).all()
    return index


def test_uci_har_from_the_official_tree(tmp_path):
    raw = _write_har(tmp_path / "har" / "UCI HAR Dataset", np.random.default_rng(0))
    task = uci.uci_har(root=tmp_path / "har", seed=0)
    assert task.input_size == 9 and task.output_size == 6 and not task.per_step
    assert task.metric.value == "accuracy"
    x_test, y_test, _ = raw["test"]
    # the official test split, in order, standardised per channel
    assert task.test.x.shape == (4, 128, 9)
    assert torch.equal(task.test.y, y_test - 1)
    slope, intercept = _affine(x_test.reshape(-1, 9), task.test.x.reshape(-1, 9))
    # validation: the windows of one held-out training subject (20 % of 5)
    x_train, y_train, subject = raw["train"]
    assert len(task.train) == 8 and len(task.val) == 2
    train_rows = _match_rows(x_train, task.train.x, slope, intercept)
    val_rows = _match_rows(x_train, task.val.x, slope, intercept)
    assert len(set(subject[val_rows.numpy()])) == 1
    assert not set(subject[val_rows.numpy()]) & set(subject[train_rows.numpy()])
    assert sorted(train_rows.tolist() + val_rows.tolist()) == list(range(10))
    assert torch.equal(task.train.y, y_train[train_rows] - 1)
    assert torch.equal(task.val.y, y_train[val_rows] - 1)
    # statistics come from the training windows only
    kept = x_train[train_rows].reshape(-1, 9).double()
    torch.testing.assert_close(slope, 1 / kept.std(0), rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(intercept, -kept.mean(0) / kept.std(0), rtol=1e-4, atol=1e-5)
    assert get_task("uci_har", root=tmp_path / "har").test.x.shape == (4, 128, 9)


def test_uci_har_from_the_archive_nested_zip(tmp_path):
    """The archive's current zip holds 'UCI HAR Dataset.zip'; read it without extracting."""
    tree = tmp_path / "tree"
    _write_har(tree / "UCI HAR Dataset", np.random.default_rng(1))
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        for path in sorted(tree.rglob("*")):
            if path.is_file():
                z.write(path, path.relative_to(tree).as_posix())
    root = tmp_path / "root"
    root.mkdir()
    with zipfile.ZipFile(root / uci.HAR_ZIP, "w") as z:
        z.writestr("UCI HAR Dataset.zip", inner.getvalue())
        z.writestr("UCI HAR Dataset.names", "names")
    from_zip = uci.uci_har(root=root)
    from_tree = uci.uci_har(root=tree)
    for name in ("train", "val", "test"):
        assert torch.equal(getattr(from_zip, name).x, getattr(from_tree, name).x)
        assert torch.equal(getattr(from_zip, name).y, getattr(from_tree, name).y)


def test_uci_har_offline_message(tmp_path, monkeypatch):
    seen = []
    _offline_urlopen(monkeypatch, seen)
    with pytest.raises(ConnectionError) as err:
        uci.uci_har(root=tmp_path / "empty")
    message = str(err.value)
    assert uci.HAR_URL in message and str(tmp_path / "empty" / uci.HAR_ZIP) in message
    assert seen == [uci.HAR_URL]
    with pytest.raises(FileNotFoundError, match="UCI HAR Dataset"):
        uci.uci_har(root=tmp_path / "empty", download=False)
    assert not list((tmp_path / "cache").glob("uci_har-*"))  # nothing cached on failure


# -------------------------------------------------------------------- person activity

_RAW_LABELS = list(uci._PERSON_LABELS)


def _write_person(path, rng):
    """6 recordings of 40 readings in ConfLongDemo_JSI.txt's format.

    Each gap between readings is distinct, so a window is identified by its timespans.
    """
    lines, rows = [], []
    gaps = rng.permutation(np.arange(100_000, 100_000 + 6 * 40 * 1_000, 1_000))
    k = 0
    for r, name in enumerate(["A01", "A02", "B01", "C01", "C02", "E05"]):
        tick = 633790226051280329 + r * 10**10
        for i in range(40):
            if i:
                tick += int(gaps[k]) if i != 7 else 0  # one duplicate timestamp
                k += 1
            tag = int(rng.integers(4))
            xyz = rng.normal(size=3) * [1.0, 2.0, 0.5] + [2.0, 1.5, 0.8]
            label = _RAW_LABELS[(r * 3 + i // 5) % len(_RAW_LABELS)]
            lines.append(
                f"{name},{uci.PERSON_TAGS[tag]},{tick},27.05.2009 14:03:25:127,"
                + ",".join(repr(float(v)) for v in xyz)
                + f",{label}"
            )
            rows.append((r, tag, tick, *xyz, uci._PERSON_LABELS[label]))
    path.write_text("\r\n".join(lines) + "\r\n")  # the original has Windows line ends
    return rows


def test_person_activity_parses_windows_and_timespans(tmp_path):
    root = tmp_path / "person"
    root.mkdir()
    rows = _write_person(root / uci.PERSON_FILE, np.random.default_rng(0))
    task = uci.person_activity(root=root, seq_len=8)
    assert task.input_size == 7 and task.output_size == 7 and task.per_step and task.irregular
    # expected per-step series, recording by recording
    rec = np.array([r[0] for r in rows])
    tick = np.array([r[2] for r in rows], dtype=np.int64)
    spans = {}
    for r in range(6):
        t = tick[rec == r]
        gaps = np.diff(t) / 1e6
        spans[r] = np.concatenate([[np.median(gaps)], np.maximum(gaps, 1e-3)])
    # locate every window by its (unique) timespans; check tags, labels, positions
    located, pairs_raw, pairs_got = {}, [], []
    for name, stride in (("train", 4), ("val", 8), ("test", 8)):
        split = getattr(task, name)
        assert split.x.shape[1:] == (8, 7) and split.y.shape[1:] == (8,)
        assert split.y.dtype == torch.int64 and split.lengths is None
        assert (split.timespans > 0).all()
        located[name] = set()
        for w in range(len(split)):
            hits = [
                (r, s)
                for r in range(6)
                for s in range(40 - 7)
                if np.allclose(split.timespans[w].numpy(), spans[r][s : s + 8], rtol=1e-5)
            ]
            assert len(hits) == 1
            r, s = hits[0]
            assert s % stride == 0
            located[name].add(r)
            idx = np.flatnonzero(rec == r)[s : s + 8]
            tags = torch.tensor([rows[i][1] for i in idx])
            assert torch.equal(split.x[w, :, :4], torch.nn.functional.one_hot(tags, 4).float())
            assert split.y[w].tolist() == [rows[i][6] for i in idx]
            pairs_raw.append(torch.tensor([rows[i][3:6] for i in idx]))
            pairs_got.append(split.x[w, :, 4:])
        assert len(split) == len(located[name]) * ((40 - 8) // stride + 1)
    assert sum(len(v) for v in located.values()) == 6  # split by recording, all used
    assert not located["train"] & located["val"] and not located["val"] & located["test"]
    assert not located["train"] & located["test"]
    slope, intercept = _affine(torch.cat(pairs_raw), torch.cat(pairs_got))
    train_xyz = torch.tensor([row[3:6] for row in rows if row[0] in located["train"]])
    torch.testing.assert_close(slope, 1 / train_xyz.double().std(0), rtol=1e-4, atol=1e-6)
    # a duplicate timestamp still gives a positive timespan (the floor, 1e-3)
    spans_all = torch.cat([task.train.timespans, task.val.timespans, task.test.timespans])
    assert float(spans_all.min()) == pytest.approx(1e-3)


def test_person_activity_offline_message(tmp_path, monkeypatch):
    seen = []
    _offline_urlopen(monkeypatch, seen)
    with pytest.raises(ConnectionError) as err:
        uci.person_activity(root=tmp_path / "p")
    message = str(err.value)
    for url in uci.PERSON_URLS:
        assert url in message
    assert str(tmp_path / "p" / uci.PERSON_FILE) in message
    assert seen == list(uci.PERSON_URLS)


# -------------------------------------------------------------------------- PhysioNet

_OUTCOME_HEADER = "RecordID,SAPS-I,SOFA,Length_of_stay,Survival,In-hospital_death"


def _write_physionet(folder, rng, n=8):
    """n patients: descriptors at 00:00, then a few series at distinct, irregular times."""
    folder.mkdir(parents=True)
    patients, outcomes = {}, [_OUTCOME_HEADER]
    for p in range(n):
        record = 132539 + p
        lines = ["Time,Parameter,Value", f"00:00,RecordID,{record}"]
        obs = {}  # minute -> {param: [values]}
        lines += [f"00:00,Age,{50 + p}", f"00:00,Gender,{p % 2}", "00:00,Height,-1"]
        lines += [f"00:00,ICUType,{1 + p % 4}", "00:00,Weight,-1"]
        obs[0] = {"Age": [50.0 + p], "Gender": [float(p % 2)], "ICUType": [1.0 + p % 4]}
        minutes = np.sort(rng.choice(np.arange(1, 48 * 60), size=3 + p, replace=False))
        for m in minutes:
            at = obs.setdefault(int(m), {})
            for param in rng.choice(["HR", "Temp", "GCS", "pH", "Weight"], 2, replace=False):
                values = [round(float(rng.normal(80, 10)), 1)]
                if param == "HR" and m == minutes[0]:
                    values.append(values[0] + 10)  # a repeated measurement: averaged
                for v in values:
                    lines.append(f"{m // 60:02d}:{m % 60:02d},{param},{v}")
                at.setdefault(str(param), []).extend(values)
        (folder / f"{record}.txt").write_text("\n".join(lines) + "\n")
        death = int(p in (1, 4, 6))
        outcomes.append(f"{record},{10 + p},{p},{5 + p},-1,{death}")
        patients[record] = (obs, death)
    (folder.parent / "Outcomes-a.txt").write_text("\n".join(outcomes) + "\n")
    return patients


def test_physionet_parses_irregular_series(tmp_path):
    root = tmp_path / "physionet"
    patients = _write_physionet(root / "set-a", np.random.default_rng(0))
    task = physionet.physionet2012(root=root, seed=0)
    n_params = len(physionet.PARAMS)
    assert task.input_size == 2 * n_params == 82 and task.output_size == 2
    assert task.metric.value == "auc" and task.irregular and not task.per_step
    assert (len(task.train), len(task.val), len(task.test)) == (6, 1, 1)
    # identify each sequence by its timespans (hours since the previous observation time)
    expected_spans = {}
    for record, (obs, _) in patients.items():
        hours = np.diff([0] + sorted(obs)) / 60
        hours[0] = max(hours[0], 1 / 60)  # first step at admission: floored at one minute
        expected_spans[record] = hours
    split_of, raw_vals, got_vals = {}, [], []
    index = {p: i for i, p in enumerate(physionet.PARAMS)}
    for name in ("train", "val", "test"):
        split = getattr(task, name)
        for i in range(len(split)):
            n = int(split.lengths[i])
            spans = split.timespans[i]
            (record,) = [
                r
                for r, hours in expected_spans.items()
                if len(hours) == n and np.allclose(spans[:n].numpy(), hours, rtol=1e-6)
            ]
            split_of[record] = name
            obs, death = patients[record]
            assert int(split.y[i]) == death
            # padding: zeros in x, 1 in timespans
            assert (split.x[i, n:] == 0).all() and (spans[n:] == 1).all()
            mask = torch.zeros(n, n_params)
            for step, minute in enumerate(sorted(obs)):
                for param, values in obs[minute].items():
                    mask[step, index[param]] = 1
                    raw_vals.append((index[param], float(np.mean(values))))
                    got_vals.append(float(split.x[i, step, index[param]]))
            assert torch.equal(split.x[i, :n, n_params:], mask)  # Height/Weight -1: unobserved
            assert (split.x[i, :n, :n_params][mask == 0] == 0).all()
    assert len(split_of) == 8
    # values: one affine map per variable (train statistics), averaging repeated values
    params = torch.tensor([p for p, _ in raw_vals])
    raw = torch.tensor([v for _, v in raw_vals], dtype=torch.float64)
    got = torch.tensor(got_vals, dtype=torch.float64)
    for p in params.unique():
        sel = params == p
        if int(sel.sum()) < 3 or raw[sel].std() == 0:
            continue
        _affine(raw[sel][:, None], got[sel][:, None])
    hr = index["HR"]
    train_hr = [
        float(np.mean(v["HR"]))
        for record, (obs, _) in patients.items()
        if split_of[record] == "train"
        for v in obs.values()
        if "HR" in v
    ]
    mean, std = np.mean(train_hr), np.std(train_hr)
    sel = params == hr
    torch.testing.assert_close(got[sel], (raw[sel] - mean) / std, rtol=1e-4, atol=1e-4)


def test_physionet_from_the_tarball(tmp_path):
    src = tmp_path / "src"
    _write_physionet(src / "set-a", np.random.default_rng(1))
    root = tmp_path / "root"
    root.mkdir()
    with tarfile.open(root / "set-a.tar.gz", "w:gz") as tar:
        tar.add(src / "set-a", arcname="set-a")
    (root / "Outcomes-a.txt").write_bytes((src / "Outcomes-a.txt").read_bytes())
    a, b = physionet.physionet2012(root=src), physionet.physionet2012(root=root)
    for name in ("train", "val", "test"):
        assert torch.equal(getattr(a, name).x, getattr(b, name).x)
        assert torch.equal(getattr(a, name).timespans, getattr(b, name).timespans)


def test_physionet_offline_messages(tmp_path, monkeypatch):
    seen = []
    _offline_urlopen(monkeypatch, seen)
    root = tmp_path / "p"
    with pytest.raises(ConnectionError) as err:
        physionet.physionet2012(root=root)
    assert physionet.OUTCOMES_URL in str(err.value)
    assert str(root / "Outcomes-a.txt") in str(err.value)
    (root / "Outcomes-a.txt").write_text(_OUTCOME_HEADER + "\n")
    with pytest.raises(ConnectionError) as err:
        physionet.physionet2012(root=root)
    assert physionet.SET_A_URL in str(err.value)
    assert str(root / "set-a.tar.gz") in str(err.value)
    with pytest.raises(FileNotFoundError, match="set-a"):
        physionet.physionet2012(root=root, download=False)
    assert seen == [physionet.OUTCOMES_URL, physionet.SET_A_URL]


# ------------------------------------------------------------------ corrupt archives
@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated", b"not a zip at all" * 10])
def test_corrupt_har_zip_is_one_line_value_error(tmp_path, content):
    root = tmp_path / "har"
    root.mkdir()
    (root / uci.HAR_ZIP).write_bytes(content)
    with pytest.raises(ValueError, match=r"the UCI HAR zip at .* is corrupt .*delete it") as err:
        uci.uci_har(root=root, download=False)
    assert "\n" not in str(err.value)


def test_corrupt_physionet_files_are_one_line_value_errors(tmp_path):
    root = tmp_path / "physionet"
    root.mkdir()
    (root / "Outcomes-a.txt").write_text("RecordID,In-hospital_death\n132539,0\n")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = b"Time,Parameter,Value\n00:00,RecordID,132539\n" * 200
        info = tarfile.TarInfo("set-a/132539.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    good = buffer.getvalue()
    for bad in (good[: len(good) // 2], b"garbage" * 10):
        (root / "set-a.tar.gz").write_bytes(bad)
        with pytest.raises(ValueError, match=r"PhysioNet 2012 set-a at .* is corrupt"):
            physionet.physionet2012(root=root, download=False)
    (root / "Outcomes-a.txt").write_text("")
    with pytest.raises(ValueError, match=r"outcomes at .* are corrupt"):
        physionet.physionet2012(root=root, download=False)
