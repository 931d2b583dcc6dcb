"""Streams between the user's terminal and a container: conmon's attach socket, or a pty master."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import sys
import termios
import tty as ttymod

from vessel.engine.monitor import STDERR, STDOUT


@contextlib.contextmanager
def raw_terminal(fd: int, enabled: bool):
    if not enabled or not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    try:
        ttymod.setraw(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def terminal_size(fd: int = 1) -> tuple[int, int] | None:
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return None
    return size.lines, size.columns


def pump_attach(sock: socket.socket, *, stdin: bool, tty: bool, on_resize=None, detach_keys: bytes = b"") -> bool:
    """Copy conmon's frames to stdout/stderr and our stdin to the container until the socket closes.

    On a TTY session with stdin, typing ``detach_keys`` leaves (the container keeps running): True then.
    """
    from vessel.engine.detachkeys import Detector

    detector = Detector(detach_keys if (tty and stdin) else b"")
    out, err = sys.stdout.buffer, sys.stderr.buffer
    in_fd = sys.stdin.fileno() if stdin else None
    if on_resize is not None and tty:
        signal.signal(signal.SIGWINCH, lambda *_: on_resize())
        on_resize()
    with raw_terminal(in_fd if in_fd is not None else 0, tty and stdin):
        watch = [sock] + ([in_fd] if in_fd is not None else [])
        while True:
            ready, _, _ = select.select(watch, [], [])
            if sock in ready:
                data = sock.recv(8193)
                if not data:
                    break
                target = err if data[0] == STDERR else out
                if data[0] in (STDOUT, STDERR):
                    target.write(data[1:])
                    target.flush()
            if in_fd is not None and in_fd in ready:
                chunk = os.read(in_fd, 8192)
                if not chunk:
                    watch.remove(in_fd)
                    in_fd = None
                    try:
                        sock.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    continue
                chunk, detached = detector.feed(chunk)
                if chunk:
                    sock.sendall(chunk)
                if detached:
                    sock.close()
                    return True
    sock.close()
    return False


def pump_pty(master: int, *, stdin: bool) -> None:
    """Proxy our terminal to a pty master (exec -t) until the other side closes."""
    in_fd = sys.stdin.fileno() if stdin else None
    out_fd = sys.stdout.fileno()
    size = terminal_size(out_fd)
    if size:
        import fcntl
        import struct

        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", size[0], size[1], 0, 0))
    with raw_terminal(in_fd if in_fd is not None else 0, stdin):
        watch = [master] + ([in_fd] if in_fd is not None else [])
        while True:
            ready, _, _ = select.select(watch, [], [])
            if master in ready:
                try:
                    data = os.read(master, 8192)
                except OSError:
                    break
                if not data:
                    break
                os.write(out_fd, data)
            if in_fd is not None and in_fd in ready:
                chunk = os.read(in_fd, 8192)
                if not chunk:
                    watch.remove(in_fd)
                    in_fd = None
                    continue
                os.write(master, chunk)
