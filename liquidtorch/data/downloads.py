"""Fetching public data files: one helper, atomic, checked, and clear when offline.

Loaders call :func:`download` only when the file they look for is missing; nothing here
runs at import time. Offline, the error says what failed, from where, and the exact path
at which to place the file by hand.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

_CHUNK = 1 << 20  # 1 MiB
_TIMEOUT_S = 60


def download(
    url: str | Sequence[str],
    dest: str | os.PathLike,
    *,
    sha256: str | None = None,
    what: str,
) -> Path:
    """Download ``url`` to ``dest`` (atomically) and return ``dest``.

    ``url`` may be a list of mirrors, tried in order. ``what`` names the file for messages
    (e.g. ``"the UCI HAR zip"``). With ``sha256`` the content is checked before it is moved
    into place. Progress goes to stderr as plain lines.

    Raises:
        ConnectionError: no mirror could be reached or read (offline, HTTP error, timeout);
            the message names every URL tried and the path to place the file at manually.
        RuntimeError: the download finished but its checksum is wrong.

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
    tmp = dest.with_name(f"{dest.name}.part{os.getpid()}")
    errors = []
    for u in urls:
        try:
            print(f"liquidtorch: downloading {what} from {u}", file=sys.stderr)
            request = urllib.request.Request(u, headers={"User-Agent": "liquidtorch"})
            with (
                urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response,
                open(tmp, "wb") as out,
            ):
                _copy_with_progress(response, out, _content_length(response))
            break
        except (urllib.error.URLError, OSError, ValueError) as err:  # HTTPError is a URLError
            errors.append(f"  {u}: {err}")
            tmp.unlink(missing_ok=True)
    else:
        raise ConnectionError(
            f"Could not download {what}.\n"
            + "\n".join(errors)
            + f"\nWithout internet access, fetch it elsewhere from {urls[0]}\n"
            f"and place it at {dest}\n(then run again; the file found there is used as is)."
        )
    if sha256 is not None:
        digest = _sha256(tmp)
        if digest != sha256.lower():
            tmp.unlink(missing_ok=True)
            raise RuntimeError(
                f"Downloaded {what} from {u} has sha256 {digest}, expected {sha256}; "
                f"the file was discarded. Place a good copy at {dest} manually."
            )
    tmp.replace(dest)
    print(f"liquidtorch: saved {what} to {dest}", file=sys.stderr)
    return dest


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


def missing_file_message(what: str, paths: Sequence[Path], urls: Sequence[str]) -> str:
    """The message for a file that is absent and may not be downloaded (``download=False``)."""
    where = "\n".join(f"  {p}" for p in paths)
    return (
        f"{what} not found; looked for:\n{where}\n"
        f"Download it from {urls[0]} and place it at the first path above, "
        "or pass download=True."
    )


__all__ = ["download", "missing_file_message"]
