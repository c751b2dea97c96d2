"""Encrypted archive files: round trip small (Fernet) and large (AES-GCM envelope) files,
rotation by key id, tampering and truncation refused, private modes, the auditor command."""

from __future__ import annotations

import os

import pytest

from finlib import crypto

from .helpers import finlib


@pytest.fixture
def keys(monkeypatch):
    old, new = crypto.new_key(), crypto.new_key()
    monkeypatch.setenv(crypto.ENV, old)
    return old, new


@pytest.mark.parametrize("size", [0, 1000, crypto.SMALL + 1, 3 * crypto.CHUNK + 17])
def test_round_trip_and_no_plaintext(tmp_path, keys, size):
    data = (b"ACME Corp invoice 123456.78;" * (size // 28 + 1))[:size]
    src = tmp_path / "export.csv"
    src.write_bytes(data)
    crypto.encrypt_file(src)
    raw = src.read_bytes()
    assert raw.startswith(crypto.MAGIC + (b" fernet " if size <= crypto.SMALL else b" aesgcm "))
    assert crypto.key_id(keys[0]).encode() in raw.splitlines()[0]
    if size:
        assert b"ACME Corp" not in raw and b"123456.78" not in raw
    assert (src.stat().st_mode & 0o777) == 0o600
    assert crypto.read_bytes(src) == data


def test_rotation_reads_old_files_and_writes_with_the_newest(tmp_path, keys, monkeypatch):
    old, new = keys
    a = tmp_path / "a.bin"
    a.write_bytes(b"old secret rows")
    crypto.encrypt_file(a)
    monkeypatch.setenv(crypto.ENV, f"{new},{old}")
    b = tmp_path / "b.bin"
    b.write_bytes(b"new rows")
    crypto.encrypt_file(b)
    assert crypto.key_id(new).encode() in b.read_bytes().splitlines()[0]
    assert crypto.read_bytes(a) == b"old secret rows"
    monkeypatch.setenv(crypto.ENV, new)  # the old key retired: its files no longer open
    with pytest.raises(crypto.DecryptionError, match=crypto.key_id(old)):
        crypto.read_bytes(a)


@pytest.mark.parametrize("size", [100, 2 * crypto.CHUNK + crypto.SMALL])
def test_tampering_and_truncation_are_refused_and_nothing_is_written(tmp_path, keys, size):
    src = tmp_path / "x.bin"
    src.write_bytes(os.urandom(size))
    crypto.encrypt_file(src)
    raw = bytearray(src.read_bytes())
    flipped = tmp_path / "flipped.bin"
    raw2 = bytearray(raw)
    raw2[len(raw2) // 2] ^= 1
    flipped.write_bytes(bytes(raw2))
    cut = tmp_path / "cut.bin"
    cut.write_bytes(bytes(raw[: len(raw) - 100]))
    for bad in (flipped, cut):
        out = tmp_path / f"{bad.stem}.plain"
        with pytest.raises(crypto.DecryptionError):
            crypto.decrypt_file(bad, out)
        assert not out.exists()
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(f".{out.name}")]


def test_the_auditor_command_decrypts_with_the_key_and_fails_clearly_without(tmp_path, keys):
    src = tmp_path / "notebook.ipynb"
    src.write_text('{"cells": [], "customer": "ACME Corp"}')
    crypto.encrypt_file(src)
    ok = finlib("archive", "decrypt", str(src), env={crypto.ENV: keys[0]})
    assert ok.returncode == 0 and "ACME Corp" in ok.stdout
    out = tmp_path / "plain.ipynb"
    assert finlib("archive", "decrypt", str(src), "-o", str(out), env={crypto.ENV: keys[0]}).returncode == 0
    assert "ACME Corp" in out.read_text() and (out.stat().st_mode & 0o777) == 0o600
    no = finlib("archive", "decrypt", str(src), env={crypto.ENV: keys[1]})
    assert no.returncode != 0 and "Traceback" not in no.stderr and "no key" in no.stderr
    assert keys[1] not in no.stderr
