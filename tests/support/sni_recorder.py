#!/usr/bin/python3
"""A stand-in TLS PostgreSQL for tests: records the SNI name and startup parameters a client sends.

Usage: sni_recorder.py CERT KEY OUT_FILE. Listens on 127.0.0.1 (port chosen by the OS), prints
"port N" on stdout, then for each connection: answers SSLRequest with 'S', completes the TLS
handshake, reads the StartupMessage, appends one JSON line {"sni": ..., "params": {...}} to
OUT_FILE and answers with a FATAL ErrorResponse (the test needs only what was sent).
"""
import json
import socket
import ssl
import struct
import sys


def read_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def main():
    cert, key, out_file = sys.argv[1:4]
    seen = {}

    def on_sni(sslobj, name, ctx):
        seen["sni"] = name

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.sni_callback = on_sni
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    print("port", listener.getsockname()[1], flush=True)
    while True:
        conn, _ = listener.accept()
        seen.clear()
        try:
            length, code = struct.unpack("!ii", read_exact(conn, 8))
            if code != 80877103:  # not SSLRequest: record the plaintext attempt
                seen["plaintext"] = True
                raise EOFError
            conn.sendall(b"S")
            tls = ctx.wrap_socket(conn, server_side=True)
            (length,) = struct.unpack("!i", read_exact(tls, 4))
            body = read_exact(tls, length - 4)[4:]
            parts = body.split(b"\0")
            params = {parts[i].decode(): parts[i + 1].decode() for i in range(0, len(parts) - 1, 2) if parts[i]}
            seen["params"] = params
            msg = b"SFATAL\0C08004\0Mrecorded by sni_recorder\0\0"
            tls.sendall(b"E" + struct.pack("!i", len(msg) + 4) + msg)
            tls.close()
        except (EOFError, OSError, ssl.SSLError) as e:
            seen.setdefault("error", str(e))
            conn.close()
        with open(out_file, "a") as f:
            f.write(json.dumps({"sni": seen.get("sni"), "params": seen.get("params"), "error": seen.get("error")}) + "\n")


if __name__ == "__main__":
    main()
