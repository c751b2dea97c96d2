"""Private, optionally encrypted files for what the audit work writes off the warehouse:
retention archives and the auditor's export.

Every such file is written in two steps: its plaintext goes to a *staging* folder (mode
0700, a hidden ``.staging-*`` folder beside the destination, removed afterwards whatever
happens), then :func:`seal` moves it into place. When ``FINLIB_ARCHIVE_KEY`` is set, sealing
encrypts it with :mod:`finlib.crypto` under the newest key (the file's header names the key
id); otherwise the plaintext is moved as is, mode 0600. Either way :func:`seal` returns the
sha256 of the *plaintext*: a manifest or an audit entry quotes that digest, so it stays true
when a file is re-encrypted under a rotated key.

Reading back (:func:`read_bytes`, :func:`finlib.crypto.decrypt_file`) decrypts with the key
the file names, and fails with :class:`finlib.crypto.DecryptionError` (one
line naming the key id, never the key) when no key opens it or the file was altered.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from finlib import crypto


def sha256_file(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def private_dir(path: Path) -> Path:
    """Create ``path`` and any missing parent with mode 0700 (``mkdir -p`` would use the umask
    for the parents); an existing folder is left as it is."""
    path = Path(path)
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        d.mkdir(mode=0o700)
        os.chmod(d, 0o700)
    if not path.is_dir():
        raise NotADirectoryError(f"{path} is not a folder")
    return path


@contextlib.contextmanager
def staging(parent: Path) -> Iterator[Path]:
    """A fresh private folder inside ``parent`` for plaintext on its way to :func:`seal`;
    removed on exit (with anything left in it)."""
    d = Path(tempfile.mkdtemp(prefix=".staging-", dir=parent))  # mkdtemp: mode 0700
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def current_key() -> str | None:
    """The key new files are encrypted with (the first of ``FINLIB_ARCHIVE_KEY``), or None."""
    keys = crypto.keys_from_env()
    return keys[0] if keys else None


def seal(plain: Path, dst: Path, key: str | None = None) -> dict:
    """Move the staged plaintext ``plain`` to ``dst``, encrypted under ``key`` when one is
    given. Returns ``{"sha256": of the plaintext, "bytes": its size}`` plus ``"key_id"`` when
    encrypted. ``plain`` is gone afterwards."""
    plain, dst = Path(plain), Path(dst)
    meta = {"sha256": sha256_file(plain), "bytes": plain.stat().st_size}
    if key is None:
        os.chmod(plain, 0o600)
        os.replace(plain, dst)
        return meta
    crypto.encrypt_file(plain, dst, key=key)  # written atomically, mode 0600
    plain.unlink()
    return {**meta, "key_id": crypto.key_id(key)}


def write_sealed(dst: Path, data: bytes, key: str | None = None) -> dict:
    """Write ``data`` to ``dst`` through a staging folder and :func:`seal`."""
    with staging(Path(dst).parent) as st:
        tmp = st / Path(dst).name
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return seal(tmp, dst, key)


def read_bytes(path: Path, keys: list[str] | None = None) -> bytes:
    """The plaintext of a small file (a manifest, a summary)."""
    return crypto.read_bytes(path, keys)
