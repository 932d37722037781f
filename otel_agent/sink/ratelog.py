"""Rate-limited logging, so a failing database or a flood of bad requests cannot flood the log."""

from __future__ import annotations

import logging
import threading
import time


class RateLimitedLog:
    """Logs at most one line per key per interval, saying how many were suppressed meanwhile."""

    def __init__(self, logger: logging.Logger, interval_s: float = 60.0) -> None:
        self._logger = logger
        self._interval_s = interval_s
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()

    def log(self, level: int, key: str, message: str, *args: object, exc_info: bool = False) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self._interval_s:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return
            self._last[key] = now
            suppressed = self._suppressed.pop(key, 0)
        if suppressed:
            message += f" ({suppressed} similar suppressed)"
        self._logger.log(level, message, *args, exc_info=exc_info)
