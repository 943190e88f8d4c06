"""A small QMP client with bounded waits (display scenario, host side)."""
import json
import socket
import time


class QMPError(Exception):
    pass


def connect_unix(path, timeout, alive=None, what="socket"):
    """Connect to the unix socket at path within timeout seconds.

    alive, if given, is called before every try and should raise when QEMU
    died (so a crashed QEMU is reported at once, not after the timeout).
    Raises QMPError naming what when the socket does not answer in time.
    """
    deadline = time.monotonic() + timeout
    while True:
        if alive:
            alive()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError as e:
            s.close()
            if time.monotonic() > deadline:
                raise QMPError(f"no {what} at {path} after {timeout:.0f} s: {e}")
            time.sleep(0.2)


class QMP:
    def __init__(self, path, timeout=30.0, alive=None):
        """Connect to QEMU's QMP socket at path within timeout seconds.

        alive: see connect_unix().
        """
        self.sock = connect_unix(path, timeout, alive, "QMP socket")
        self.buf = b""
        self.timeout = timeout
        greeting = self._read(timeout)
        if "QMP" not in greeting:
            raise QMPError(f"not a QMP greeting: {greeting}")
        self.cmd("qmp_capabilities")

    def _read(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise QMPError(f"QMP: no answer within {timeout:.0f} s")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not data:
                raise QMPError("QMP: QEMU closed the connection")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, timeout=None, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        timeout = timeout or self.timeout
        deadline = time.monotonic() + timeout
        while True:
            r = self._read(max(0.1, deadline - time.monotonic()))
            if "event" in r:
                continue
            if "error" in r:
                raise QMPError(f"QMP {name}: {r['error'].get('desc', r['error'])}")
            if "return" in r:
                return r["return"]

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None
