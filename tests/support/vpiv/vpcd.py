"""The card's side of vsmartcard's vpcd reader: insert, serve APDUs, pull out.

vpcd (the pcscd driver ``libifdvpcd.so``) listens on TCP; a virtual card
connects to it and is "inserted" for as long as the connection lasts. Frames
are a two-byte big-endian length and a payload: a one-byte payload is a
control message (0 power off, 1 power on, 2 reset, 4 send the ATR), anything
longer is a command APDU whose answer goes back the same way.

vpcd listens on every interface, so it only ever runs inside a private network
namespace (see :mod:`tests.support.vpiv.harness`). This module therefore connects from
a short-lived thread that has joined that namespace: the socket stays in the
namespace, the rest of the test process stays where it was.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import socket
import struct
import threading

from tests.support.vpiv.card import CardRemoved, VirtualYubiKey

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def connect_in_netns(netns_path: str, port: int, timeout: float = 5.0) -> socket.socket:
    """A TCP connection to 127.0.0.1:``port`` made from inside the namespace at ``netns_path``.

    Raises:
        OSError: the namespace cannot be joined or nothing listens there.
    """
    result: dict[str, object] = {}

    def run() -> None:
        try:
            fd = os.open(netns_path, os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns({netns_path}): {os.strerror(err)}")
            finally:
                os.close(fd)
            result["sock"] = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        except OSError as e:
            result["error"] = e

    # The thread ends right after connecting; its namespace dies with it.
    t = threading.Thread(target=run, name=f"vpcd-connect-{port}")
    t.start()
    t.join()
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    sock = result["sock"]
    assert isinstance(sock, socket.socket)
    sock.settimeout(None)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class CardSlot:
    """One vpcd reader slot (one TCP port) that a virtual card can be put into."""

    def __init__(self, netns_path: str, port: int, reader_name: str) -> None:
        self.netns_path = netns_path
        self.port = port
        self.reader_name = reader_name
        self.card: VirtualYubiKey | None = None
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    @property
    def inserted(self) -> bool:
        return self._sock is not None

    def insert(self, card: VirtualYubiKey) -> None:
        """Put ``card`` in the reader (connect to vpcd and start answering)."""
        if self.inserted:
            raise RuntimeError(f"{self.reader_name} already holds a card")
        self.card = card
        card.power_off()
        self._sock = connect_in_netns(self.netns_path, self.port)
        self._thread = threading.Thread(target=self._serve, args=(self._sock, card),
                                        name=f"vpiv-{card.serial}", daemon=True)
        self._thread.start()

    def remove(self) -> None:
        """Pull the card out (close the connection); idempotent."""
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def _serve(self, sock: socket.socket, card: VirtualYubiKey) -> None:
        try:
            while True:
                msg = _recv_frame(sock)
                if msg is None:
                    break
                if len(msg) == 1:
                    if msg[0] in (0, 2):  # power off / reset
                        card.power_off()
                    elif msg[0] == 4:
                        _send_frame(sock, card.atr())
                    continue
                _send_frame(sock, card.transmit(msg))
        except CardRemoved:
            pass  # the simulated operator pulled the key in the middle of a command
        except OSError:
            pass  # the test removed the card
        finally:
            if self._sock is sock:
                self._sock = None
                sock.close()


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
        # vpcd writes the length and the payload separately; acknowledging at once
        # keeps Nagle + delayed ACK from adding ~40-90 ms to every APDU.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
    return buf


def _recv_frame(sock: socket.socket) -> bytes | None:
    head = _recv_exact(sock, 2)
    if head is None:
        return None
    (length,) = struct.unpack(">H", head)
    return _recv_exact(sock, length)


def _send_frame(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(struct.pack(">H", len(payload)) + payload)
