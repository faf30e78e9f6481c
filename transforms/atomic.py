"""write_atomic: every output file is written under a temporary name and renamed when complete.

A run killed at any point leaves no file under its final name that is not whole (a leftover
`<name>.tmp-<hex>` is never read by anything); a rerun replaces the file. Works through Beam's
FileSystems (local paths, gs://, s3://; on object stores rename is a copy and delete).
"""

from __future__ import annotations

import uuid

from apache_beam.io.filesystems import FileSystems


def write_atomic(path: str, data: bytes) -> str:
    temp = f"{path}.tmp-{uuid.uuid4().hex}"
    with FileSystems.create(temp) as fh:
        fh.write(data)
    if FileSystems.exists(path):
        FileSystems.delete([path])
    FileSystems.rename([temp], [path])
    return path
