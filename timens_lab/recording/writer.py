"""The file side of a recording: ``FILE.<random>.partial`` written chunk by chunk, renamed into
place only when complete (so a reader never sees half a file under the final name)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import RecordingError
from . import format as fmt


class RecordingWriter:
    """The file side: ``FILE.<random>.partial`` written chunk by chunk, renamed at close."""

    def __init__(self, path: str | os.PathLike[str], meta: Mapping[str, Any]) -> None:
        self.path = Path(path)
        self.partial = self.path.with_name(f"{self.path.name}.{secrets.token_hex(4)}.partial")
        try:
            # O_EXCL on a fresh random name; mode 0600: a recording shows what ran on this
            # machine (commands' namespaces, pids, kernel), so it is private to the user
            # (SECURITY.md); share it deliberately with chmod.
            self._fd = os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                               0o600)
        except OSError as err:
            raise RecordingError(f"cannot create {self.path}: {err.strerror}", errno=err.errno,
                                 hint="choose a directory that exists and that you can write "
                                      "to") from err
        self.chunks = 0
        self.closed = False
        try:
            self._write(fmt.preamble() + fmt.frame(b"META", fmt.json_bytes(dict(meta))))
        except BaseException:
            self.abort()
            raise

    def write(self, tag: bytes, payload: bytes) -> None:
        self._write(fmt.frame(tag, payload))
        self.chunks += 1

    def _write(self, data: bytes) -> None:
        # One chunk per write(2) where the kernel takes it whole (a regular file does, short of
        # ENOSPC): a SIGKILL then cuts between chunks; the reader copes with a cut anywhere.
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as err:
            raise RecordingError(f"cannot write {self.partial}: {err.strerror}",
                                 errno=err.errno, hint="free some space (what was written so "
                                 "far replays with --partial)") from err

    def close(self, done: Mapping[str, Any]) -> Path:
        """Write DONE, fsync, rename over ``path`` (atomic), fsync the directory."""
        if self.closed:
            return self.path
        self.write(b"DONE", fmt.zjson({**done, "chunks": self.chunks + 1}))
        try:
            os.fsync(self._fd)
            os.close(self._fd)
            self.closed = True
            os.replace(self.partial, self.path)
            dirfd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                os.fsync(dirfd)
            finally:
                os.close(dirfd)
        except OSError as err:
            raise RecordingError(f"cannot finish {self.path}: {err.strerror}", errno=err.errno,
                                 hint=f"the data is in {self.partial}") from err
        return self.path

    def abort(self) -> None:
        """Close and delete the partial file (nothing worth keeping was recorded)."""
        if not self.closed:
            self.closed = True
            os.close(self._fd)
            self.partial.unlink(missing_ok=True)
