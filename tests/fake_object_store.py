"""`fakeobj://` URIs: an object store (like gs:// or s3://) for tests, kept in a local directory.

Registered with Beam's FileSystems by being imported (Beam finds FileSystem subclasses by scheme). Like
an object store it has no directories (listing is by prefix) and rename is a copy and a delete, so a run
whose inputs and output are `fakeobj://` URIs shows that every file access goes through FileSystems.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.localfilesystem import LocalFileSystem

SCHEME = "fakeobj"
ROOT_ENV = "FAKEOBJ_ROOT"


class FakeObjectStore(LocalFileSystem):
    def __init__(self, pipeline_options=None) -> None:
        super().__init__(pipeline_options)
        self._disk = LocalFileSystem(pipeline_options)   # delegate: local paths never reach self's methods

    @classmethod
    def scheme(cls) -> str:
        return SCHEME

    @staticmethod
    def _root() -> str:
        return os.environ[ROOT_ENV]

    def _local(self, uri: str) -> str:
        prefix = f"{SCHEME}://"
        if not uri.startswith(prefix):
            raise ValueError(f"not a {prefix} URI: {uri}")
        return os.path.join(self._root(), uri[len(prefix):])

    def _uri(self, local: str) -> str:
        return f"{SCHEME}://" + os.path.relpath(local, self._root()).replace(os.sep, "/")

    def join(self, basepath: str, *paths: str) -> str:
        return "/".join([basepath.rstrip("/"), *(p.strip("/") for p in paths)])

    def split(self, path: str) -> tuple[str, str]:
        head, _, tail = path.rstrip("/").rpartition("/")
        return head, tail

    def mkdirs(self, path: str) -> None:
        pass  # no directories in an object store

    def has_dirs(self) -> bool:
        return False

    def _list(self, dir_or_prefix: str) -> Iterator[FileMetadata]:
        for dirpath, _, files in os.walk(self._root()):
            for name in files:
                local = os.path.join(dirpath, name)
                uri = self._uri(local)
                if uri.startswith(dir_or_prefix):
                    yield FileMetadata(uri, os.path.getsize(local), os.path.getmtime(local))

    def create(self, path, *args, **kwargs):
        return self._disk.create(self._local(path), *args, **kwargs)

    def open(self, path, *args, **kwargs):
        return self._disk.open(self._local(path), *args, **kwargs)

    def copy(self, source_file_names, destination_file_names):
        return self._disk.copy([self._local(p) for p in source_file_names],
                            [self._local(p) for p in destination_file_names])

    def rename(self, source_file_names, destination_file_names):  # an object store copies, then deletes
        self.copy(source_file_names, destination_file_names)
        self.delete(source_file_names)

    def exists(self, path):
        return self._disk.exists(self._local(path))

    def size(self, path):
        return self._disk.size(self._local(path))

    def last_updated(self, path):
        return self._disk.last_updated(self._local(path))

    def checksum(self, path):
        return self._disk.checksum(self._local(path))

    def metadata(self, path):
        meta = self._disk.metadata(self._local(path))
        return FileMetadata(path, meta.size_in_bytes, meta.last_updated_in_seconds)

    def delete(self, paths):
        return self._disk.delete([self._local(p) for p in paths])

    def report_lineage(self, path, lineage):
        pass
