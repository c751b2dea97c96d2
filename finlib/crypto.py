"""Encrypted files: archived notebooks and exports, under ``FINLIB_ARCHIVE_KEY``.

``FINLIB_ARCHIVE_KEY`` holds one or more keys separated by commas, **newest first**: files are
written with the first and read with whichever one the file names, so a key is rotated by
putting the new one in front and dropping the old one once nothing needs it. A key is 32
random bytes in URL-safe base64 (``finlib archive new-key`` prints one; it is also a valid
Fernet key).

File format: one ASCII header line, then the ciphertext::

    FINLIB-ENC/1 <scheme> <key id>\\n

``key id`` is the first 12 hex digits of ``sha256(key)`` (names the key, reveals nothing).

* ``fernet`` (files up to :data:`SMALL` bytes): the rest of the file is one Fernet token
  (AES-128-CBC + HMAC-SHA256, with a timestamp).
* ``aesgcm`` (larger files, streamed): an envelope. A random 256-bit data key is wrapped with
  AES-256-GCM under a key derived from the archive key (HKDF-SHA256); then the data follows in
  chunks of :data:`CHUNK` bytes, each ``len (4 bytes) || AES-256-GCM(data key, nonce, chunk,
  aad)`` with the nonce ``prefix (8 random bytes) || counter (4 bytes)`` and the header,
  counter and a last-chunk flag as associated data, so chunks cannot be reordered, dropped or
  truncated without the decryption failing.

Every file this module writes is private to its user (mode 0600).
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import struct
import tempfile
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from finlib.errors import ConfigError, FinlibError

ENV = "FINLIB_ARCHIVE_KEY"
MAGIC = b"FINLIB-ENC/1"
SMALL = 4 * 1024 * 1024
CHUNK = 1024 * 1024


class DecryptionError(FinlibError):
    """A file could not be decrypted: no key for it, a wrong key, or the file was altered."""

    exit_code = 3


def new_key() -> str:
    """A fresh random key (URL-safe base64 of 32 bytes)."""
    return Fernet.generate_key().decode()


def key_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def keys_from_env() -> list[str]:
    """The keys in ``FINLIB_ARCHIVE_KEY`` (newest first); [] when unset."""
    raw = os.environ.get(ENV, "")
    keys = [k.strip() for k in raw.split(",") if k.strip()]
    for k in keys:
        try:
            if len(base64.urlsafe_b64decode(k.encode())) != 32:
                raise ValueError
        except ValueError:
            raise ConfigError(f"{ENV} holds a malformed key (key id {key_id(k)}): each key is 32 "
                              "bytes in URL-safe base64; make one with `finlib archive new-key`.") from None
    return keys


def enabled() -> bool:
    return bool(keys_from_env())


def _kek(key: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"finlib archive key-encryption key").derive(base64.urlsafe_b64decode(key.encode()))


def is_encrypted(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(len(MAGIC)) == MAGIC


def _write_private(path: Path, writer) -> None:
    """Write ``path`` atomically (a temporary file in the same folder), mode 0600."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as out:
            writer(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def encrypt_stream(src, out, key: str, size: int | None = None) -> None:
    """Encrypt the binary stream ``src`` into ``out`` under ``key``."""
    kid = key_id(key)
    if size is not None and size <= SMALL:
        out.write(MAGIC + f" fernet {kid}\n".encode())
        out.write(Fernet(key.encode()).encrypt(src.read()))
        return
    header = MAGIC + f" aesgcm {kid}\n".encode()
    dek = AESGCM.generate_key(bit_length=256)
    wrap_nonce = os.urandom(12)
    wrapped = AESGCM(_kek(key)).encrypt(wrap_nonce, dek, header)
    prefix = os.urandom(8)
    out.write(header + wrap_nonce + struct.pack(">H", len(wrapped)) + wrapped + prefix)
    gcm = AESGCM(dek)
    counter = 0
    chunk = src.read(CHUNK)
    while True:
        nxt = src.read(CHUNK)
        last = not nxt
        aad = header + struct.pack(">I?", counter, last)
        ct = gcm.encrypt(prefix + struct.pack(">I", counter), chunk, aad)
        out.write(struct.pack(">I", len(ct)) + ct)
        if last:
            return
        counter += 1
        chunk = nxt


def _header(src) -> tuple[str, str, bytes]:
    line = src.readline(200)
    parts = line.rstrip(b"\n").split(b" ")
    if len(parts) != 3 or parts[0] != MAGIC or not line.endswith(b"\n"):
        raise DecryptionError("not a finlib encrypted file")
    return parts[1].decode(), parts[2].decode(), line


def decrypt_stream(src, out, keys: list[str] | None = None) -> None:
    """Decrypt the binary stream ``src`` (written by :func:`encrypt_stream`) into ``out``."""
    keys = keys_from_env() if keys is None else keys
    scheme, kid, header = _header(src)
    key = next((k for k in keys if key_id(k) == kid), None)
    if key is None:
        raise DecryptionError(f"no key in {ENV} for this file (it names key id {kid})")
    try:
        if scheme == "fernet":
            out.write(Fernet(key.encode()).decrypt(src.read()))
            return
        if scheme != "aesgcm":
            raise DecryptionError(f"unknown scheme {scheme!r}")
        wrap_nonce = src.read(12)
        (n,) = struct.unpack(">H", src.read(2))
        dek = AESGCM(_kek(key)).decrypt(wrap_nonce, src.read(n), header)
        prefix = src.read(8)
        gcm = AESGCM(dek)
        counter = 0
        while True:
            head = src.read(4)
            if len(head) != 4:
                raise DecryptionError("the file is truncated")
            (n,) = struct.unpack(">I", head)
            ct = src.read(n)
            nonce = prefix + struct.pack(">I", counter)
            try:
                out.write(gcm.decrypt(nonce, ct, header + struct.pack(">I?", counter, False)))
            except InvalidTag:
                out.write(gcm.decrypt(nonce, ct, header + struct.pack(">I?", counter, True)))
                if src.read(1):
                    raise DecryptionError("data follows the last chunk") from None
                return
            counter += 1
    except (InvalidToken, InvalidTag, struct.error, ValueError) as exc:
        raise DecryptionError("the file does not decrypt: it was altered, or the key for its "
                              f"id {kid} is wrong ({type(exc).__name__})") from None


def encrypt_file(src: Path, dst: Path | None = None, key: str | None = None) -> Path:
    """Encrypt ``src`` into ``dst`` (default: in place) under ``key`` (default: the newest key
    in ``FINLIB_ARCHIVE_KEY``). Returns ``dst``."""
    src = Path(src)
    dst = Path(dst) if dst else src
    if key is None:
        keys = keys_from_env()
        if not keys:
            raise ConfigError(f"Set {ENV} to encrypt files.")
        key = keys[0]
    size = src.stat().st_size
    with open(src, "rb") as fh:
        _write_private(dst, lambda out: encrypt_stream(fh, out, key, size))
    return dst


def decrypt_file(src: Path, dst: Path, keys: list[str] | None = None) -> Path:
    """Decrypt ``src`` into ``dst`` (mode 0600). Nothing is left at ``dst`` on failure."""
    with open(src, "rb") as fh:
        _write_private(Path(dst), lambda out: decrypt_stream(fh, out, keys))
    return Path(dst)


def read_bytes(path: Path, keys: list[str] | None = None) -> bytes:
    """The plaintext of ``path``, decrypted when it is an encrypted file."""
    with open(path, "rb") as fh:
        if fh.read(len(MAGIC)) != MAGIC:
            fh.seek(0)
            return fh.read()
        fh.seek(0)
        buf = io.BytesIO()
        decrypt_stream(fh, buf, keys)
        return buf.getvalue()


def seal_if_enabled(path: Path) -> bool:
    """Encrypt ``path`` in place when ``FINLIB_ARCHIVE_KEY`` is set; True when it did."""
    if not enabled() or is_encrypted(path):
        return False
    encrypt_file(path)
    return True
