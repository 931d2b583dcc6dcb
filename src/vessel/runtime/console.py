"""Terminals: allocate a pty inside the container and hand its master to the console socket."""

from __future__ import annotations

import array
import fcntl
import os
import socket
import struct
import termios

from vessel.errors import SystemFailure


def connect(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as err:
        sock.close()
        raise SystemFailure.from_os_error(f"connect to console socket {path}", err, path=path) from None
    return sock


def open_pty() -> tuple[int, int]:
    """A new pty pair from the container's /dev/ptmx (devpts newinstance)."""
    try:
        return os.openpty()
    except OSError as err:
        raise SystemFailure.from_os_error("allocate a pty in the container", err,
                                          hint="mount devpts at /dev/pts with newinstance,ptmxmode=0666") from None


def send_master(sock: socket.socket, master: int) -> None:
    fds = array.array("i", [master])
    sock.sendmsg([b"/dev/ptmx"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])


def set_size(fd: int, height: int, width: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


def make_controlling(slave: int) -> None:
    """Make the pty slave the controlling terminal and the process's stdio."""
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)


def setup_terminal(sock: socket.socket, console_size) -> None:
    master, slave = open_pty()
    if console_size is not None:
        set_size(slave, console_size.height, console_size.width)
    send_master(sock, master)
    os.close(master)
    sock.close()
    make_controlling(slave)
