#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Records what NBD clients send: nbd-record.py LISTEN UPSTREAM OUTPREFIX.

Listens on the unix socket LISTEN, forwards every connection to the NBD
server on the unix socket UPSTREAM, and writes the bytes each client sent
(client flags, options, requests with payloads: the input format of
fuzz-nbd-proto) to OUTPREFIX-N.  Runs until killed.
"""
import os
import socket
import sys
import threading


def pump(src, dst, record):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if record is not None:
                record.write(data)
                record.flush()
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(conn, upstream, path):
    up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    up.connect(upstream)
    with open(path, 'wb') as record:
        t = threading.Thread(target=pump, args=(up, conn, None), daemon=True)
        t.start()
        pump(conn, up, record)
        t.join(5)
    conn.close()
    up.close()


def main():
    listen, upstream, prefix = sys.argv[1:4]
    if os.path.exists(listen):
        os.unlink(listen)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(listen)
    srv.listen(8)
    n = 0
    while True:
        conn, _ = srv.accept()
        n += 1
        threading.Thread(target=serve, args=(conn, upstream, '%s-%d' % (prefix, n)),
                         daemon=True).start()


if __name__ == '__main__':
    main()
