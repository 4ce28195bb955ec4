"""Where a study lives: a journal file in the run directory (default) or a database.

The journal file (Optuna's ``JournalStorage`` over a file, with file locks) needs no server:
an interrupted study resumes from it, and several processes on one machine can join it. A
database URL (``postgresql://user:pass@host/db``, ``mysql://...``, ``sqlite:///path.db``;
SQLAlchemy must be installed, and the database's driver) serves workers on many machines.
"""

from __future__ import annotations

from pathlib import Path

JOURNAL_FILE = "study.journal"
_DIALECTS = ("sqlite", "postgresql", "mysql", "mariadb", "oracle", "mssql")


def open_storage(url: str | None, run_dir: Path):
    """An Optuna storage: ``url`` (a database) or, when None, ``run_dir/study.journal``.

    Raises ``ValueError`` (one line) for a URL that is not a database URL or cannot be
    opened (a missing driver, a server that does not answer)."""
    import optuna

    if url is None:
        from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

        run_dir.mkdir(parents=True, exist_ok=True)
        path = str(run_dir / JOURNAL_FILE)
        # The open(O_EXCL) lock works on every file system (symlink locks do not on some).
        return optuna.storages.JournalStorage(
            JournalFileBackend(path, lock_obj=JournalFileOpenLock(path))
        )
    scheme = url.partition("://")[0].split("+")[0].lower() if "://" in url else ""
    if scheme not in _DIALECTS:
        raise ValueError(
            f"storage {url!r} is not a database URL; use e.g. postgresql://user@host/db or "
            f"sqlite:///study.db (omit --storage for a journal file in the run directory)"
        )
    try:
        return optuna.storages.RDBStorage(url)
    except Exception as e:  # noqa: BLE001 - SQLAlchemy and drivers raise many kinds
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"cannot open storage {url!r}: {first}") from None
