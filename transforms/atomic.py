"""write_atomic: every output file is written under a temporary name and renamed when complete;
read_bytes and remove_all for the files the run reads back or clears.

A run killed at any point leaves no file under its final name that is not whole (a leftover
`<name>.tmp-<hex>` is never read by anything); a rerun replaces the file. Works through Beam's
FileSystems (local paths, gs://, s3://; on object stores rename is a copy and delete).
"""

from __future__ import annotations

import os
import time
import uuid

from apache_beam.io.filesystems import FileSystems

# Fault injection for the kill tests (tests/test_resume.py): when a path being written contains the value
# of this variable, the writer creates the file named by CURATE_TEST_HANG_FLAG and stops between writing
# the temporary file and renaming it, so a test can SIGKILL the run at exactly that point.
HANG_ENV, HANG_FLAG_ENV = "CURATE_TEST_HANG_BEFORE_RENAME", "CURATE_TEST_HANG_FLAG"


def _fault_point(path: str) -> None:
    target = os.environ.get(HANG_ENV)
    if target and target in path:
        with open(os.environ[HANG_FLAG_ENV], "w", encoding="utf-8") as fh:
            fh.write(path)
        time.sleep(3600)


def write_atomic(path: str, data: bytes) -> str:
    """Writes `data` to `path` whole or not at all. A path with a '..' segment is refused: every output
    path is built from the output directory and names the config checks, never climbing out of it."""
    if ".." in path.replace("\\", "/").split("/"):
        raise ValueError(f"refusing to write outside the output directory: {path}")
    temp = f"{path}.tmp-{uuid.uuid4().hex}"
    with FileSystems.create(temp) as fh:
        fh.write(data)
    _fault_point(path)
    if FileSystems.exists(path):
        FileSystems.delete([path])
    FileSystems.rename([temp], [path])
    return path


def read_bytes(path: str) -> bytes | None:
    """The bytes of the file at `path` (any filesystem Beam knows), or None when it does not exist."""
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path) as fh:
        return fh.read()


def remove_all(directory: str) -> None:
    """Removes every file directly in `directory` (nothing when there is none)."""
    found = FileSystems.match([f"{directory}/*"])[0].metadata_list
    if found:
        FileSystems.delete([m.path for m in found])
