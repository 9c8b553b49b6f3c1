"""A doorbell between the Rasa server and the console feed on one machine.

After Rasa's tracker store has committed a turn, it sends one empty datagram to a unix
socket in the var dir (:func:`ring`); the web gateway's console feed waits on that
socket (:class:`Doorbell`) instead of polling the database, then reads everything new
in one batch. The ring carries no data: a lost or spoofed ring costs at most one read,
and the feed also looks on its own every few seconds, so nothing depends on it.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
from pathlib import Path
from typing import Optional

logger = logging.getLogger(__name__)

#: The socket's file name in the var dir.
SOCKET_NAME = "feed.sock"
#: Longest path a unix socket address can hold (sun_path, with its terminating NUL).
MAX_SOCKET_PATH = 107

_sender: Optional[socket.socket] = None


def ring(path: Path) -> None:
    """Wake whoever listens at ``path``; never blocks, never fails (nobody may listen)."""
    global _sender
    if _sender is None:
        _sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        _sender.setblocking(False)
    try:
        _sender.sendto(b"!", os.fspath(path))
    except OSError as error:  # not listening (yet), or a ring is already waiting
        if error.errno not in (errno.ENOENT, errno.ECONNREFUSED, errno.EAGAIN, errno.ENOBUFS):
            logger.debug("doorbell %s: %s", path, error)


class Doorbell:
    """The listening end: ``await doorbell.wait(timeout)`` returns when rung (True) or
    after ``timeout`` seconds (False). Rings that arrive together count once."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._socket: Optional[socket.socket] = None
        self._rung = asyncio.Event()

    def open(self) -> bool:
        """Bind the socket (owner-only); False when the path cannot hold a socket."""
        if len(os.fspath(self.path)) > MAX_SOCKET_PATH:
            logger.warning("doorbell path too long for a unix socket, the feed polls instead: %s", self.path)
            return False
        self.path.unlink(missing_ok=True)  # left by a previous run
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setblocking(False)
        old_mask = os.umask(0o077)
        try:
            sock.bind(os.fspath(self.path))
        finally:
            os.umask(old_mask)
        asyncio.get_running_loop().add_reader(sock.fileno(), self._drain)
        self._socket = sock
        return True

    def _drain(self) -> None:
        assert self._socket is not None
        try:
            while self._socket.recv(16):
                pass
        except BlockingIOError:
            pass
        self._rung.set()

    async def wait(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._rung.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False
        finally:
            self._rung.clear()

    def close(self) -> None:
        if self._socket is not None:
            asyncio.get_running_loop().remove_reader(self._socket.fileno())
            self._socket.close()
            self._socket = None
            self.path.unlink(missing_ok=True)
