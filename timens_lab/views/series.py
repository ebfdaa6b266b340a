"""A growable 1-D numpy array with a length cap: the history behind one plotted line."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


class Series:
    """Amortised O(1) appends (capacity doubles); keeps only the newest ``cap`` values."""

    def __init__(self, dtype: npt.DTypeLike = np.float64, capacity: int = 1024) -> None:
        self._buf = np.empty(capacity, dtype=dtype)
        self._start = 0
        self._end = 0

    def __len__(self) -> int:
        return self._end - self._start

    @property
    def view(self) -> np.ndarray:
        """The values, oldest first (a view: do not keep it across extend())."""
        return self._buf[self._start:self._end]

    def extend(self, values: npt.ArrayLike, cap: int | None = None) -> None:
        values = np.asarray(values, dtype=self._buf.dtype)
        if cap is not None and len(values) > cap:
            values = values[-cap:]
        n = len(values)
        if self._end + n > len(self._buf):
            keep = self.view
            if cap is not None and len(keep) + n > cap:
                keep = keep[len(keep) + n - cap:]
            size = max(2 * (len(keep) + n), 1024)
            buf = np.empty(size, dtype=self._buf.dtype)
            buf[:len(keep)] = keep
            self._buf, self._start, self._end = buf, 0, len(keep)
        self._buf[self._end:self._end + n] = values
        self._end += n
        if cap is not None and len(self) > cap:
            self._start = self._end - cap
