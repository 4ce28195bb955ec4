"""Fetching public data files: one helper, atomic, checked, and clear when offline.

Loaders call :func:`download` only when the file they look for is missing; nothing here
runs at import time. Offline, the error says what failed, from where, and the exact path
at which to place the file by hand.

Every download is checked against a SHA-256 hash. A loader passes the hash when it is
pinned; otherwise the first successful download of a file name records its hash and size
in ``<cache dir>/download-hashes.json`` (trust on first use) and every later download of
that name must match it. A mismatch discards the file and raises :class:`ChecksumError`;
if the publisher really changed the file, delete its entry from that JSON file.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import sys
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

_CHUNK = 1 << 20  # 1 MiB
_TIMEOUT_S = 60
HASHES_FILE = "download-hashes.json"  # trust-on-first-use records, in the cache directory


class ChecksumError(ValueError):
    """A downloaded file's SHA-256 differs from the pinned or recorded one."""


def download(
    url: str | Sequence[str],
    dest: str | os.PathLike,
    *,
    sha256: str | None = None,
    what: str,
) -> Path:
    """Download ``url`` to ``dest`` (atomically) and return ``dest``.

    ``url`` may be a list of mirrors, tried in order. ``what`` names the file for messages
    (e.g. ``"the UCI HAR zip"``). The content is checked before it is moved into place:
    against ``sha256`` when given, else against the hash recorded for ``dest``'s file name
    by its first download (recorded now if there is none; see the module doc). Progress
    goes to stderr as plain lines.

    Raises:
        ConnectionError: no mirror could be reached or read (offline, HTTP error, timeout);
            the message names every URL tried and the path to place the file at manually.
        ChecksumError: (a ``ValueError``) the download finished but its hash is wrong.

    Example:
        >>> path = download(  # doctest: +SKIP
        ...     "https://example.org/data.zip", "/tmp/data.zip", what="the example data"
        ... )
    """
    import urllib.error
    import urllib.request

    urls = [url] if isinstance(url, str) else list(url)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    errors = []
    for u in urls:
        # A fresh, exclusively created temporary file with a random name for every try.
        fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        tmp = Path(name)
        try:
            print(f"liquidtorch: downloading {what} from {u}", file=sys.stderr)
            request = urllib.request.Request(u, headers={"User-Agent": "liquidtorch"})
            with (
                os.fdopen(fd, "wb") as out,
                urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response,
            ):
                _copy_with_progress(response, out, _content_length(response))
                out.flush()
                os.fsync(out.fileno())
            break
        except (urllib.error.URLError, OSError, ValueError) as err:  # HTTPError is a URLError
            errors.append(f"  {u}: {err}")
            tmp.unlink(missing_ok=True)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    else:
        raise ConnectionError(
            f"Could not download {what}.\n"
            + "\n".join(errors)
            + f"\nWithout internet access, fetch it elsewhere from {urls[0]}\n"
            f"and place it at {dest}\n(then run again; the file found there is used as is)."
        )
    try:
        _verify(tmp, dest.name, u, what, sha256)
        os.replace(tmp, dest)  # replaces a link planted at dest; never writes through it
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    print(f"liquidtorch: saved {what} to {dest}", file=sys.stderr)
    return dest


def _verify(path: Path, name: str, url: str, what: str, sha256: str | None) -> None:
    """Check ``path`` against the pinned hash or the recorded one (recording it if none)."""
    digest = _sha256(path)
    if sha256 is not None:
        if digest != sha256.lower():
            raise ChecksumError(
                f"downloaded {what} from {url} has sha256 {digest}, expected the pinned "
                f"{sha256}; the file was discarded"
            )
        return
    records_path = _hashes_path()
    records = _read_records(records_path)
    known = records.get(name)
    if known is None:
        records[name] = {"sha256": digest, "size": path.stat().st_size, "url": url}
        from ..train._io import write_json_atomic  # train imports data: resolved at call time

        write_json_atomic(records_path, records)
        print(
            f"liquidtorch: no pinned hash for {name}; recorded sha256 {digest} in "
            f"{records_path} (later downloads must match)",
            file=sys.stderr,
        )
    elif digest != known.get("sha256"):
        raise ChecksumError(
            f"downloaded {what} from {url} has sha256 {digest}, but its first download had "
            f"{known.get('sha256')} (recorded in {records_path}); the file was discarded. If the "
            f"publisher changed the file, delete the {name!r} entry there"
        )


def _hashes_path() -> Path:
    from ._task import cache_dir

    return cache_dir() / HASHES_FILE


def _read_records(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"download hash records {str(path)!r} are corrupt: {e}") from None
    if not isinstance(records, dict):
        raise ValueError(f"download hash records {str(path)!r} are corrupt: not a JSON object")
    return records


def _content_length(response) -> int | None:
    try:
        return int(response.headers.get("Content-Length"))
    except (TypeError, ValueError):
        return None


def _copy_with_progress(src, dst, total: int | None) -> None:
    done, next_report = 0, 0.1
    while chunk := src.read(_CHUNK):
        dst.write(chunk)
        done += len(chunk)
        if total and done / total >= next_report:
            print(f"  {done / 2**20:.1f} / {total / 2**20:.1f} MiB", file=sys.stderr)
            next_report += 0.1
    if total is None:
        print(f"  {done / 2**20:.1f} MiB", file=sys.stderr)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


ARCHIVE_ERRORS = (
    zipfile.BadZipFile,
    tarfile.TarError,
    EOFError,
    zlib.error,
    gzip.BadGzipFile,
    UnicodeDecodeError,
    KeyError,  # a member the archive should hold is missing
    StopIteration,
)


@contextlib.contextmanager
def reading_archive(path: Path, what: str) -> Iterator[None]:
    """Turn the errors of reading a damaged or foreign archive (zip, tar.gz) or data file
    into one ``ValueError`` that names the file and says how to get a fresh copy."""
    try:
        yield
    except ARCHIVE_ERRORS as e:
        reason = " ".join(str(e).split())[:200] or type(e).__name__
        raise ValueError(
            f"{what} at {path} is corrupt or not the expected file ({reason}); delete it and "
            "run again to download a fresh copy"
        ) from None


def missing_file_message(what: str, paths: Sequence[Path], urls: Sequence[str]) -> str:
    """The message for a file that is absent and may not be downloaded (``download=False``)."""
    where = "\n".join(f"  {p}" for p in paths)
    return (
        f"{what} not found; looked for:\n{where}\n"
        f"Download it from {urls[0]} and place it at the first path above, "
        "or pass download=True."
    )


__all__ = [
    "ChecksumError",
    "HASHES_FILE",
    "download",
    "missing_file_message",
    "reading_archive",
]
