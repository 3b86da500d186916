# SPDX-License-Identifier: LGPL-2.1-or-later
"""A tiny NBD client speaking the wire protocol directly, for the interop
tests that need to send what real clients never send (bad magic, truncated
payloads, past-the-end requests) or to hold a connection open."""

import socket
import struct

NBDMAGIC = 0x4e42444d41474943
IHAVEOPT = 0x49484156454F5054
REPMAGIC = 0x3e889045565a9
REQ_MAGIC = 0x25609513
SIMPLE_MAGIC = 0x67446698
STRUCT_MAGIC = 0x668e33ef

OPT_EXPORT_NAME, OPT_ABORT, OPT_LIST, OPT_STARTTLS = 1, 2, 3, 5
OPT_INFO, OPT_GO, OPT_STRUCTURED_REPLY = 6, 7, 8
OPT_LIST_META_CONTEXT, OPT_SET_META_CONTEXT = 9, 10
REP_ACK, REP_SERVER, REP_INFO, REP_META_CONTEXT = 1, 2, 3, 4
REP_ERR_UNSUP, REP_ERR_INVALID, REP_ERR_UNKNOWN = (1 << 31) + 1, (1 << 31) + 3, (1 << 31) + 6
REP_ERR_POLICY, REP_ERR_TLS_REQD = (1 << 31) + 2, (1 << 31) + 5

CMD_READ, CMD_WRITE, CMD_DISC, CMD_FLUSH, CMD_TRIM, CMD_CACHE = 0, 1, 2, 3, 4, 5
CMD_WRITE_ZEROES, CMD_BLOCK_STATUS = 6, 7
FLAG_FUA, FLAG_NO_HOLE, FLAG_DF, FLAG_REQ_ONE, FLAG_FAST_ZERO = 1, 2, 4, 8, 16

CHUNK_NONE, CHUNK_DATA, CHUNK_HOLE, CHUNK_BLOCK_STATUS = 0, 1, 2, 5
CHUNK_ERROR = (1 << 15) + 1

EPERM, EIO, EINVAL, ENOSPC, EOVERFLOW, ENOTSUP = 1, 5, 22, 28, 75, 95

TF_READ_ONLY, TF_SEND_FLUSH, TF_CAN_MULTI_CONN = 1 << 1, 1 << 2, 1 << 8


class Closed(Exception):
    pass


class Client:
    def __init__(self, path=None, host=None, port=None, timeout=10):
        if path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(path)
        else:
            self.sock = socket.create_connection((host, port), timeout)
        self.structured = False
        self.cookie = 0

    def close(self):
        self.sock.close()

    def recv_exact(self, n):
        buf = b''
        while len(buf) < n:
            part = self.sock.recv(n - len(buf))
            if not part:
                raise Closed('server closed the connection')
            buf += part
        return buf

    def send(self, data):
        self.sock.sendall(data)

    def is_closed(self, timeout=5):
        """True if the server closed the connection (EOF) within timeout."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b''
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    # -- handshake
    def greet(self, flags=3):
        magic, opts, hflags = struct.unpack('>QQH', self.recv_exact(18))
        assert magic == NBDMAGIC and opts == IHAVEOPT, 'bad greeting'
        self.send(struct.pack('>I', flags))
        return hflags

    def option(self, opt, data=b''):
        self.send(struct.pack('>QII', IHAVEOPT, opt, len(data)) + data)

    def option_reply(self):
        magic, opt, rtype, length = struct.unpack('>QIII', self.recv_exact(20))
        assert magic == REPMAGIC, 'bad option reply magic %x' % magic
        return opt, rtype, self.recv_exact(length)

    def starttls(self, context, server_hostname='localhost'):
        """NBD_OPT_STARTTLS and the TLS handshake (context: an ssl.SSLContext);
        the connection goes on inside TLS."""
        self.option(OPT_STARTTLS)
        _, rtype, _ = self.option_reply()
        assert rtype == REP_ACK, 'STARTTLS failed: %x' % rtype
        self.sock = context.wrap_socket(self.sock, server_hostname=server_hostname)

    def structured_reply(self):
        self.option(OPT_STRUCTURED_REPLY)
        _, rtype, _ = self.option_reply()
        assert rtype == REP_ACK, rtype
        self.structured = True

    def set_meta_context(self, name, queries=(b'base:allocation',)):
        data = struct.pack('>I', len(name)) + name + struct.pack('>I', len(queries))
        for q in queries:
            data += struct.pack('>I', len(q)) + q
        self.option(OPT_SET_META_CONTEXT, data)
        contexts = {}
        while True:
            _, rtype, payload = self.option_reply()
            if rtype == REP_META_CONTEXT:
                contexts[payload[4:]] = struct.unpack('>I', payload[:4])[0]
            elif rtype == REP_ACK:
                return contexts
            else:
                raise AssertionError('SET_META_CONTEXT failed: %x' % rtype)

    def go(self, name=b'', structured=True, meta=True, tls=None):
        """Full handshake (with tls, an ssl.SSLContext: STARTTLS first);
        returns (size, transmission flags)."""
        self.greet()
        if tls:
            self.starttls(tls)
        if structured:
            self.structured_reply()
            if meta:
                self.set_meta_context(name)
        self.option(OPT_GO, struct.pack('>I', len(name)) + name + struct.pack('>H', 0))
        size = flags = None
        while True:
            _, rtype, payload = self.option_reply()
            if rtype == REP_INFO and struct.unpack('>H', payload[:2])[0] == 0:
                size, flags = struct.unpack('>QH', payload[2:12])
            elif rtype == REP_ACK:
                return size, flags
            else:
                raise AssertionError('GO failed: %x %r' % (rtype, payload))

    # -- transmission
    def request(self, cmd, offset=0, length=0, flags=0, payload=b'', cookie=None,
                magic=REQ_MAGIC):
        if cookie is None:
            self.cookie += 1
            cookie = self.cookie
        self.send(struct.pack('>IHHQQI', magic, flags, cmd, cookie, offset, length) + payload)
        return cookie

    def reply(self, read_length=0):
        """One reply: (cookie, error, data, chunks).  Structured chunks are
        collected until DONE; data is what the OFFSET_DATA and OFFSET_HOLE
        chunks say, in offset order (holes as zero bytes)."""
        magic = struct.unpack('>I', self.recv_exact(4))[0]
        if magic == SIMPLE_MAGIC:
            error, cookie = struct.unpack('>IQ', self.recv_exact(12))
            data = self.recv_exact(read_length) if read_length and not error else b''
            return cookie, error, data, []
        assert magic == STRUCT_MAGIC, 'bad reply magic %x' % magic
        chunks, pieces, error = [], [], 0
        while True:
            flags, ctype, cookie, length = struct.unpack('>HHQI', self.recv_exact(16))
            payload = self.recv_exact(length)
            chunks.append((ctype, payload))
            if ctype == CHUNK_DATA:
                pieces.append((struct.unpack('>Q', payload[:8])[0], payload[8:]))
            elif ctype == CHUNK_HOLE:
                off, size = struct.unpack('>QI', payload)
                pieces.append((off, bytes(size)))
            elif ctype & (1 << 15):
                error = struct.unpack('>I', payload[:4])[0]
            if flags & 1:
                data = b''.join(p for _, p in sorted(pieces, key=lambda p: p[0]))
                return cookie, error, data, chunks
            magic = struct.unpack('>I', self.recv_exact(4))[0]
            assert magic == STRUCT_MAGIC

    def read(self, offset, length):
        self.request(CMD_READ, offset, length)
        _, error, data, _ = self.reply(length)
        return error, data

    def read_chunks(self, offset, length, flags=0):
        """A structured READ: (error, data, [(type, offset, length)]), the
        chunks as they came up to DONE; ERROR chunks have offset None."""
        self.request(CMD_READ, offset, length, flags)
        _, error, data, chunks = self.reply(length)
        out = []
        for ctype, payload in chunks:
            if ctype == CHUNK_DATA:
                out.append((ctype, struct.unpack('>Q', payload[:8])[0], len(payload) - 8))
            elif ctype == CHUNK_HOLE:
                out.append((ctype,) + struct.unpack('>QI', payload))
            else:
                out.append((ctype, None, len(payload)))
        return error, data, out

    def write(self, offset, data, flags=0):
        self.request(CMD_WRITE, offset, len(data), flags, data)
        return self.reply()[1]

    def simple(self, cmd, offset=0, length=0, flags=0):
        self.request(cmd, offset, length, flags)
        return self.reply()[1]

    def block_status(self, offset, length, flags=0):
        """[(length, state flags)] of base:allocation, or the error number."""
        self.request(CMD_BLOCK_STATUS, offset, length, flags)
        _, error, _, chunks = self.reply()
        if error:
            return error
        extents = []
        for ctype, payload in chunks:
            if ctype == CHUNK_BLOCK_STATUS:
                for i in range(4, len(payload), 8):
                    extents.append(struct.unpack('>II', payload[i:i + 8]))
        return extents

    def disconnect(self):
        self.request(CMD_DISC)
        self.close()
