#!/usr/bin/python3
"""sd_notify as systemd sees it: pgfunnel, configured by PGFUNNEL_* alone, sends READY=1 once bound.

Usage: sd_notify_test.py ROOT (an unpacked package, run through chroot) or sd_notify_test.py --exe PATH.
Listens on a unix datagram socket as systemd does, for both a path and an abstract ('@') name.
"""
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time

failures = 0


def check(name, ok, detail=""):
    global failures
    print(("pass " if ok else "FAIL ") + name + ("" if ok else ": " + detail), flush=True)
    if not ok:
        failures += 1


def receive(sock, want, seconds=20.0):
    """Datagrams until one holds the line `want`; returns them all (empty if none came in time)."""
    got = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select([sock], [], [], deadline - time.monotonic())
        if not ready:
            break
        got.append(sock.recv(4096).decode())
        if want in got[-1].split("\n"):
            return got
    return []


def run(command, socket_name, bind_name, label):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(bind_name)
    env = {
        # Configuration from the environment alone: no file, no flag.
        "PGFUNNEL_UPSTREAM": "postgres://app:secret@127.0.0.1:1/app",
        "PGFUNNEL_LISTEN_POOLED": "127.0.0.1:0",
        "PGFUNNEL_LISTEN_DIRECT": "127.0.0.1:0",
        "PGFUNNEL_LISTEN_HTTP": "127.0.0.1:0",
        "PGFUNNEL_SHUTDOWN_TIMEOUT": "5s",
        "NOTIFY_SOCKET": socket_name,
        "PATH": "/usr/bin:/bin",
    }
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        ready = receive(sock, "READY=1")
        check(f"{label}: READY=1 arrives", bool(ready), "no READY=1 within 20 s")
        if ready:
            check(f"{label}: MAINPID is pgfunnel's", f"MAINPID={proc.pid}" in ready[-1].split("\n"), repr(ready))
        proc.send_signal(signal.SIGHUP)
        reload = receive(sock, "READY=1")
        check(f"{label}: SIGHUP sends RELOADING=1 then READY=1",
              len(reload) >= 2 and reload[0].startswith("RELOADING=1\nMONOTONIC_USEC="), repr(reload))
        proc.send_signal(signal.SIGTERM)
        check(f"{label}: SIGTERM sends STOPPING=1", bool(receive(sock, "STOPPING=1")), "no STOPPING=1")
        out, _ = proc.communicate(timeout=20)
        check(f"{label}: exits 0 after SIGTERM", proc.returncode == 0, f"rc {proc.returncode}\n{out}")
        # READY=1 came after the listeners were bound: the log says where, before it.
        check(f"{label}: listeners bound from the environment",
              re.search(r"pooled listener \(transaction mode\) on 127\.0\.0\.1:\d+", out) is not None, out)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()


def main():
    if sys.argv[1] == "--exe":
        root, command = None, [sys.argv[2]]
    else:
        root = sys.argv[1]
        command = ["/usr/sbin/chroot", root, "/usr/bin/pgfunnel"]  # chroot execs: the pid is pgfunnel's
    # A path socket, as systemd's /run/systemd/notify; inside the chroot when there is one.
    directory = os.path.join(root, "run") if root else f"/tmp/pgfunnel-notify-{os.getpid()}"
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"notify-{os.getpid()}.sock")
    try:
        run(command, path[len(root):] if root else path, path, "path socket")
    finally:
        if os.path.exists(path):
            os.unlink(path)
    # An abstract name: '@' in NOTIFY_SOCKET, a leading NUL for bind(2).
    name = f"pgfunnel-notify-{os.getpid()}"
    run(command, "@" + name, "\0" + name, "abstract socket")
    print("all checks passed" if failures == 0 else f"{failures} check(s) failed")
    sys.exit(1 if failures else 0)


main()
