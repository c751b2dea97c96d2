"""Configuration under audit: the hash of every file in ``parameters/``.

:func:`parameters_state` hashes each file (alert thresholds, controls, jobs, mappings,
retention) and the whole tree (sha256 over ``path\\0sha256\\n`` lines in path order). Every
``run`` entry of the trail carries that hash; and whenever the hash differs from the one the
trail last recorded, the write hook appends a ``config`` entry right after the batch's own,
naming the files added, changed and removed, with the git commit and its author when the
checkout is a git repository.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from finlib import config


def parameters_state(root: Path | None = None) -> dict:
    """``{"sha256": tree hash, "files": {relative path: sha256}}`` of the parameters folder."""
    root = root or config.parameters_dir()
    files: dict[str, str] = {}
    if root.is_dir():
        for p in sorted(root.rglob("*")):
            if p.is_file() and not p.name.startswith(".") and "__pycache__" not in p.parts:
                files[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    tree = hashlib.sha256("".join(f"{k}\0{v}\n" for k, v in files.items()).encode()).hexdigest()
    return {"sha256": tree, "files": files}


def git_info(root: Path | None = None) -> dict | None:
    """The checkout's HEAD commit, its author and whether parameters/ has uncommitted edits."""
    root = root or config.parameters_dir()
    try:
        out = subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%H%x00%an <%ae>", "--", "."],
                             capture_output=True, text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "."],
                               capture_output=True, text=True, timeout=5, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    if not out:
        return None
    commit, _, author = out.partition("\0")
    return {"commit": commit, "author": author, "uncommitted_changes": bool(dirty)}


def diff(old: dict, new: dict) -> dict:
    o, n = old.get("files", {}), new.get("files", {})
    return {"added": sorted(set(n) - set(o)), "removed": sorted(set(o) - set(n)),
            "changed": sorted(k for k in set(o) & set(n) if o[k] != n[k])}
