#!/usr/bin/python3
# Bad NBD traffic: wrong magic, unknown options and commands, requests past
# the end, oversize and truncated requests, clients vanishing mid-request.
# Each bad client gets an error reply or is disconnected, while a good
# client on the same export keeps working and the daemon survives.
import struct
import nbdtest
import nbdwire
from nbdwire import Client
from nbdtest import bgtest, MiB

SIZE = 4 * MiB


def good_client_works(good, n):
    data = bytes([n & 0xff]) * 4096
    bgtest.check_equal(good.write(n * 4096, data), 0, 'good client write')
    bgtest.check_equal(good.read(n * 4096, 4096), (0, data), 'good client read')


def main():
    with bgtest.Daemon() as d:
        img, uri, sock = nbdtest.setup(d, SIZE)
        good = Client(sock)
        good.go(b'disk0')
        good_client_works(good, 0)

        # wrong magic in the option header: disconnected
        c = Client(sock)
        c.greet()
        c.send(struct.pack('>QII', 0x1234, nbdwire.OPT_GO, 0))
        bgtest.check(c.is_closed(), 'wrong option magic disconnects')
        good_client_works(good, 1)

        # unknown client flags: disconnected
        c = Client(sock)
        c.greet(flags=0x80)
        bgtest.check(c.is_closed(), 'unknown client flags disconnect')

        # unknown option: ERR_UNSUP, then the handshake goes on
        c = Client(sock)
        c.greet()
        c.option(999, b'junk')
        bgtest.check_equal(c.option_reply()[1], nbdwire.REP_ERR_UNSUP, 'unknown option')
        c.option(nbdwire.OPT_GO, struct.pack('>I', 4) + b'nope' + struct.pack('>H', 0))
        bgtest.check_equal(c.option_reply()[1], nbdwire.REP_ERR_UNKNOWN, 'unknown export')
        c.option(nbdwire.OPT_GO, struct.pack('>I', 40) + b'x')   # length lies
        bgtest.check_equal(c.option_reply()[1], nbdwire.REP_ERR_INVALID, 'malformed GO')
        c.option(nbdwire.OPT_ABORT)
        bgtest.check_equal(c.option_reply()[1], nbdwire.REP_ACK, 'abort')
        bgtest.check(c.is_closed(), 'closed after abort')

        # an option payload far too large: disconnected
        c = Client(sock)
        c.greet()
        c.send(struct.pack('>QII', nbdwire.IHAVEOPT, nbdwire.OPT_GO, 1 << 30))
        bgtest.check(c.is_closed(), 'oversize option disconnects')

        # transmission errors, structured (error chunks) and simple replies
        for structured in (True, False):
            c = Client(sock)
            c.go(b'disk0', structured=structured, meta=structured)
            bgtest.check_equal(c.read(SIZE - 512, 1024)[0], nbdwire.EINVAL, 'read past end')
            bgtest.check_equal(c.read(1 << 62, 1)[0], nbdwire.EINVAL, 'read far past end')
            bgtest.check_equal(c.write(SIZE, b'x' * 512), nbdwire.ENOSPC, 'write past end')
            bgtest.check_equal(c.simple(nbdwire.CMD_TRIM, SIZE, 1), nbdwire.EINVAL, 'trim past end')
            bgtest.check_equal(c.simple(77, 0, 0), nbdwire.EINVAL, 'unknown command')
            bgtest.check_equal(c.simple(nbdwire.CMD_FLUSH, 0, 0, 1 << 12), 0, 'flush')
            bgtest.check_equal(c.simple(nbdwire.CMD_WRITE_ZEROES, 0, 512, 1 << 9),
                               nbdwire.EINVAL, 'unknown flag')
            bgtest.check_equal(c.read(0, 64 * MiB)[0], nbdwire.EOVERFLOW, 'oversize read')
            if structured:
                c.request(nbdwire.CMD_READ, SIZE, 10)
                _, err, _, chunks = c.reply()
                bgtest.check_equal(chunks[0][0], nbdwire.CHUNK_ERROR, 'error chunk')
                msg_len = struct.unpack('>H', chunks[0][1][4:6])[0]
                bgtest.check(b'past' in chunks[0][1][6:6 + msg_len] or msg_len > 0,
                             'error chunk has a message')
                bgtest.check_equal(c.block_status(SIZE, 1), nbdwire.EINVAL, 'status past end')
            else:
                bgtest.check_equal(c.simple(nbdwire.CMD_BLOCK_STATUS, 0, 512), nbdwire.EINVAL,
                                   'block status without meta context')
            bgtest.check_equal(c.read(SIZE, 0), (0, b''), 'empty read at the end')
            err, data = c.read(0, 4096)
            bgtest.check_equal(err, 0, 'connection still usable after errors')
            c.disconnect()
        good_client_works(good, 2)

        # wrong request magic: disconnected
        c = Client(sock)
        c.go(b'disk0')
        c.request(nbdwire.CMD_READ, 0, 512, magic=0xdeadbeef)
        bgtest.check(c.is_closed(), 'bad request magic disconnects')

        # oversize write: the payload is consumed, EOVERFLOW, the connection stays in sync
        c = Client(sock)
        c.go(b'disk0')
        bgtest.check_equal(c.write(0, b'\0' * (33 * MiB)), nbdwire.EOVERFLOW, 'oversize write')
        bgtest.check_equal(c.read(0, 4096)[0], 0, 'in sync after oversize write')
        c.disconnect()

        # truncated payload, then the client vanishes mid-request
        c = Client(sock)
        c.go(b'disk0')
        c.send(struct.pack('>IHHQQI', nbdwire.REQ_MAGIC, 0, nbdwire.CMD_WRITE, 1, 0, 65536)
               + b'\xee' * 1000)
        c.close()
        # half a request header, then gone
        c = Client(sock)
        c.go(b'disk0')
        c.send(struct.pack('>IHH', nbdwire.REQ_MAGIC, 0, nbdwire.CMD_READ))
        c.close()
        # many reads queued, the reader never reads the replies and disconnects
        c = Client(sock)
        c.go(b'disk0')
        for i in range(64):
            c.request(nbdwire.CMD_READ, 0, MiB)
        c.close()
        good_client_works(good, 3)
        with open(img, 'rb') as f:
            bgtest.check(f.read(1000) != b'\xee' * 1000, 'truncated write not applied')

        # handshake abandoned half way
        c = Client(sock)
        c.recv_exact(10)
        c.close()
        good_client_works(good, 4)
        good.disconnect()
        sig = d.signals()
        sig.wait_for(lambda _: int(nbdtest.export_props(d, 'e0')['Clients']) == 0)


bgtest.run(main)
