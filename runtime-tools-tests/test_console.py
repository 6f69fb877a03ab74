"""terminal: true with --console-socket: the pty master arrives over the socket (SCM_RIGHTS)."""
import array
import os
import select
import socket
import time

import rtt


def test_console_socket(env, ct):
    d = env.tmpdir()
    path = os.path.join(d, "console.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    srv.settimeout(rtt.TIMEOUT)
    ct.config["process"]["terminal"] = True
    ct.config["process"]["args"] = ["sh", "-c", "tty; echo console-ok; sleep 0.3"]
    master = None
    try:
        ct.create("--console-socket", path)
        conn, _ = srv.accept()
        fds = array.array("i")
        msg, anc, _, _ = conn.recvmsg(4096, socket.CMSG_SPACE(4 * fds.itemsize))
        for level, typ, data in anc:
            if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                fds.frombytes(data[:len(data) - (len(data) % fds.itemsize)])
        conn.close()
        assert len(fds) == 1, "no fd received over the console socket"
        master = fds[0]
        assert os.isatty(master)
        ct.start()
        out = b""
        deadline = time.time() + 10
        while time.time() < deadline and b"console-ok" not in out:
            r, _, _ = select.select([master], [], [], 0.2)
            if r:
                try:
                    out += os.read(master, 4096)
                except OSError:
                    break
        assert b"console-ok" in out, out
        assert b"not a tty" not in out
        ct.wait_stopped()
    finally:
        srv.close()
        if master is not None:
            os.close(master)
