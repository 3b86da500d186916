# SPDX-License-Identifier: LGPL-2.1-or-later
"""A throw-away single-node Ceph cluster for the rbd tests.

One ceph-mon and one ceph-osd (memstore: the objects live in the OSD's
memory), authentication off, bound to 127.0.0.1 on a free port, everything
in a temporary folder.  Both daemons run in the foreground as our children
and are stopped by PID, also when the start fails half-way.  Starting takes
a few seconds and about 70 MB; start one cluster per test file and share it
between the cases:

    import ceph
    with ceph.Cluster() as cl:          # skips (exit 77) without the binaries
        cl.rbd('create', '--size', '64M', 'rbd/img0')
        opts = cl.blockdev_options()    # conf="..." pool="rbd" for a blockdev

API:
  Cluster(memstore_mb=256, page_set=False, keep_memory=False)
                                 context manager; .conf (ceph.conf path),
                                 .dir, .port, .pool ('rbd'); page_set:
                                 memstore's pages (see CONF); keep_memory:
                                 the OSD's malloc keeps freed memory (see
                                 OSD_KEEP_MEMORY)
  .create_image(name, size, features=None)    through librbd (fast)
  .image(name, snapshot=None, read_only=False) an open rbd.Image (with ...)
  .mon_command(prefix, **args)   what `ceph PREFIX` sends, on one connection
  .ceph(*args) / .rbd(*args)     run the CLI against the cluster, return stdout
  .run(argv)                     any command with CEPH_CONF set
  .stop_osd() / .stop()          stop the OSD only (a cluster that stops
                                 answering) / everything
  need_binaries()                skip unless ceph-mon, ceph-osd, ceph, rbd exist

Stop blockgraphd and other clients before the cluster: a client left with
an open image after the cluster has gone may ignore SIGTERM.
"""

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import bgtest

try:
    import rados        # python3-rados and python3-rbd, which ceph-common depends on
    import rbd
    RBD_FEATURES = {
        'layering': rbd.RBD_FEATURE_LAYERING,
        'exclusive-lock': rbd.RBD_FEATURE_EXCLUSIVE_LOCK,
        'object-map': rbd.RBD_FEATURE_OBJECT_MAP,
        'fast-diff': rbd.RBD_FEATURE_FAST_DIFF,
        'deep-flatten': rbd.RBD_FEATURE_DEEP_FLATTEN,
    }
except ImportError:
    rados = None


class _Image:
    """rbd.Image that also closes its I/O context."""

    def __init__(self, ioctx, name, snapshot, read_only):
        self.ioctx = ioctx
        try:
            self.image = rbd.Image(ioctx, name, snapshot=snapshot, read_only=read_only)
        except BaseException:
            ioctx.close()
            raise

    def __enter__(self):
        return self.image

    def __exit__(self, *exc):
        self.image.close()
        self.ioctx.close()
        return False

BINARIES = ('ceph-mon', 'ceph-osd', 'ceph', 'rbd')
# Every step gets this long before the start counts as failed (2 busy cores).
STEP_TIMEOUT = float(os.environ.get('BG_CEPH_STEP_TIMEOUT', '60'))
# How long a client command waits for the cluster (librados' own deadlines).
CLIENT_TIMEOUT = 30

CONF = '''[global]
# A cluster of its own: a new id, so no other test's daemons can join it.
fsid = {fsid}
# The one monitor, on loopback.  "v1:" because only the old wire protocol
# is bound (below): a bare address on a port other than 6789 is taken as
# msgr2 and the OSD never comes up.
mon host = v1:127.0.0.1:{port}
mon initial members = a
# Speak only msgr v1, so that one port is all the monitor needs.
ms bind msgr2 = false
# No cephx keys: the clients and daemons trust each other.
auth cluster required = none
auth service required = none
auth client required = none
# The OSD keeps objects in memory: nothing to format, fast, gone at stop.
osd objectstore = memstore
memstore device bytes = {memstore_bytes}
# How memstore holds an object: false (the tests): the buffers of the
# messages that wrote it, so a first write costs one copy (from the
# socket); true (bench/rbd-fio.py): 64 KiB pages allocated on the first
# write and overwritten in place.  Without pages every overwrite keeps its
# message's freshly allocated buffer and frees the old one, and on this
# (virtualised) machine the page faults of that fresh memory were what
# held 1 MiB writes at 8-20 MiB/s until the allocator had memory to reuse
# (`rbd bench` 1 MiB qd8 overwriting a full image: 20 MiB/s and 1.6 s of
# OSD CPU per 128 MiB without pages, 88 MiB/s and 0.4 s with them).
# Pages cost the first write twice the faults: 9 instead of 18 MiB/s.
memstore page set = {page_set}
# One OSD holds every object: one copy is enough, and a placement group
# may map to OSDs of the same host (there is only one host).
osd pool default size = 1
osd pool default min size = 1
osd crush chooseleaf type = 0
# Without these about one start in five the OSD sends a command with an
# all-zero fsid and stays down (we place osd.0 in the map ourselves).
osd class update on start = false
osd crush update on start = false
# A small cluster on a busy machine: no warnings about it, no health checks
# that refuse pools with one copy.
mon allow pool size one = true
mon warn on pool no redundancy = false
osd pool default pg autoscale mode = off
# Everything in the cluster's folder.
run dir = {dir}/run
# One admin socket per process (clients too: `ceph --admin-daemon
# run/client.admin.PID.asok config diff` shows what a server's librbd runs with).
admin socket = {dir}/run/$name.$pid.asok
log file = {dir}/$name.log
mon data = {dir}/$name
osd data = {dir}/$name
# The monitor batches map changes for a second by default: each set-up
# step would cost that second.
paxos propose interval = 0.01
paxos min wait = 0.01
# Keep memory and threads small.
osd memory target = 268435456
osd op num shards = 1
osd op num threads per shard = 2
# Work a throw-away in-memory cluster on loopback does not need: on 2
# cores shared with builds every thread a request passes through waits for
# a core, and this work would slow the servers under test alike.
# - crc32c over every message's data and header, on both ends (TCP checks
#   loopback).  The OSD's own crc32c of whole-object and appending writes
#   (up to a fifth of its CPU while an image is first written) stays: no
#   setting skips it on memstore, which has no checksums to replace it.
ms crc data = false
ms crc header = false
# - the per-op event history (`dump_historic_ops`) and its thread: turn it
#   back on to see where an op waits (queued_for_pg, reached_pg, op_commit).
osd enable op tracker = false
# - the in-memory debug log, gathered at level 5 by default and dumped only
#   on a crash; the log file keeps errors (level 0).
debug osd = 0/0
debug ms = 0/0
debug objecter = 0/0
debug rados = 0/0
debug rbd = 0/0
debug objectcacher = 0/0
debug monc = 0/0
debug mon = 0/0
debug paxos = 0/0
debug filestore = 0/0
debug bluestore = 0/0
# The clients (ceph, rbd, librbd) give up rather than hang if the cluster
# stops answering.
rados mon op timeout = {client_timeout}
rados osd op timeout = {client_timeout}
client mount timeout = {client_timeout}

[mon.a]
# Where the monitor binds: the address of "mon host".
public addr = v1:127.0.0.1:{port}

[osd]
# The OSD on loopback as well (its ports are picked from the free ones).
public addr = 127.0.0.1
cluster addr = 127.0.0.1
'''


# glibc's malloc in the OSD (Debian's ceph-osd uses it, not tcmalloc):
# every 1 MiB write arrives in a fresh 1 MiB buffer, and with the default
# (dynamic) thresholds malloc returns freed memory at the top of its heaps
# to the kernel and faults it in again for the next messages.  With 24 MiB
# of writes in flight the OSD took 40-100 page faults and 2-4 ms of CPU per
# 1 MiB write (against ~1 ms and under 10 faults with 4-8 MiB in flight),
# so the number of writes a client kept in flight decided its speed.  For
# the bench (keep_memory=True): take 1 MiB buffers from the heaps and keep
# up to 256 MiB freed at their top.
OSD_KEEP_MEMORY = 'glibc.malloc.mmap_threshold=4194304:glibc.malloc.trim_threshold=268435456'


def need_binaries():
    """Skips the test (exit 77) when the Ceph packages are not installed."""
    for b in BINARIES:
        bgtest.need_tool(b)
    if rados is None:
        bgtest.skip('python3-rados not installed')


def ephemeral_ports():
    """The kernel's range for outgoing connections' local ports."""
    try:
        with open('/proc/sys/net/ipv4/ip_local_port_range') as f:
            low, high = (int(x) for x in f.read().split())
            return low, high
    except (OSError, ValueError):
        return 32768, 60999


def free_port():
    """A port nothing listens on, drawn at random below the ephemeral range.
    Random: the kernel's choice (bind to port 0) hands two clusters starting
    at once the same port before either monitor binds it, and their clients
    then reach the other cluster's monitor ("wrong fsid").  Below the
    ephemeral range: no outgoing connection can take it as its local port
    between this check and the monitor's bind."""
    low, _ = ephemeral_ports()
    while True:
        port = random.randint(10000, max(10001, low - 1))
        with socket.socket() as s:
            try:
                s.bind(('127.0.0.1', port))
            except OSError:
                continue
            return port


class Cluster:
    def __init__(self, memstore_mb=256, pool='rbd', page_set=False, keep_memory=False):
        need_binaries()
        self.memstore_mb = memstore_mb
        self.page_set = page_set
        self.keep_memory = keep_memory
        self.pool = pool
        self.dir = tempfile.mkdtemp(prefix='bgceph-')
        self.conf = os.path.join(self.dir, 'ceph.conf')
        self.port = None
        self.procs = {}             # name -> Popen
        self.client = None          # rados.Rados for monitor commands
        self._logs = []

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- commands
    def env(self):
        env = dict(os.environ)
        env['CEPH_CONF'] = self.conf
        return env

    def run(self, argv, timeout=STEP_TIMEOUT, check=True, input=None):
        p = subprocess.run(argv, env=self.env(), capture_output=True, text=True,
                           timeout=timeout, input=input)
        if check and p.returncode != 0:
            raise bgtest.TestFailure('%s failed (%d): %s%s' % (' '.join(argv), p.returncode,
                                                               p.stdout, p.stderr))
        return p

    def ceph(self, *args, **kw):
        # --connect-timeout: fail rather than wait for a monitor for good.
        return self.run(['ceph', '--connect-timeout', str(CLIENT_TIMEOUT)] + list(args),
                        **kw).stdout

    def rbd(self, *args, **kw):
        return self.run(['rbd'] + list(args), **kw).stdout

    def create_image(self, name, size, features=None):
        """Creates pool/name (librbd's default features unless given: a list
        of names such as ['layering', 'exclusive-lock'])."""
        with self.client.open_ioctx(self.pool) as ioctx:
            kw = {}
            if features is not None:
                kw['features'] = sum(RBD_FEATURES[f] for f in features)
            rbd.RBD().create(ioctx, name, size, old_format=False, **kw)

    def image(self, name, snapshot=None, read_only=False):
        """An open rbd.Image (a context manager) of pool/name."""
        ioctx = self.client.open_ioctx(self.pool)
        return _Image(ioctx, name, snapshot, read_only)

    def blockdev_options(self):
        """The attributes an rbd blockdev needs to reach this cluster."""
        return 'conf="%s" pool="%s"' % (self.conf, self.pool)

    # -- start
    def start(self):
        self.port = free_port()
        with open(self.conf, 'w') as f:
            f.write(CONF.format(fsid=uuid.uuid4(), port=self.port, dir=self.dir,
                                memstore_bytes=self.memstore_mb << 20,
                                page_set=str(self.page_set).lower(),
                                client_timeout=CLIENT_TIMEOUT))
        os.mkdir(os.path.join(self.dir, 'run'))
        # --keyring /dev/null: auth is off, the monitor needs no keys.
        self.run(['ceph-mon', '--mkfs', '--id', 'a', '--keyring', '/dev/null'])
        self._spawn('mon.a', ['ceph-mon', '-f', '--id', 'a'])
        # One client connection for the set-up commands: each `ceph` command
        # would cost a Python start and a connect (seconds on a busy machine).
        self.client = rados.Rados(conffile=self.conf)
        self.client.connect(timeout=int(STEP_TIMEOUT))
        self.mon_command('osd create')                        # -> osd.0
        self.mon_command('osd crush add', id=0, weight=1.0, args=['root=default'])
        os.mkdir(os.path.join(self.dir, 'osd.0'))     # memstore's mkfs writes its fsid there
        self.run(['ceph-osd', '--id', '0', '--mkjournal', '--mkfs'])
        self._spawn('osd.0', ['ceph-osd', '-f', '--id', '0'],
                    {'GLIBC_TUNABLES': OSD_KEEP_MEMORY} if self.keep_memory else {})
        self._wait(lambda: self.mon_command('osd stat', format='json')['num_up_osds'] == 1,
                   'osd.0 to come up')
        self.mon_command('osd pool create', pool=self.pool, pg_num=8)
        self.mon_command('osd pool application enable', pool=self.pool, app='rbd')

    def mon_command(self, prefix, **args):
        """A monitor command (what `ceph PREFIX ...` sends): its JSON answer or None."""
        args['prefix'] = prefix
        end = time.monotonic() + STEP_TIMEOUT
        while True:
            r, out, err = self.client.mon_command(json.dumps(args), b'', timeout=CLIENT_TIMEOUT)
            # Right after connect, librados may send a command before it holds
            # the monitor map: its fsid is all zeroes and the monitor answers
            # EPERM "wrong fsid".  Seen about one start in ten under load.
            if not (r == -1 and 'wrong fsid' in err) or time.monotonic() > end:
                break
            time.sleep(0.1)
        if r < 0:
            raise bgtest.TestFailure('ceph %s failed (%d): %s' % (prefix, r, err))
        return json.loads(out) if args.get('format') == 'json' else None

    def _spawn(self, name, argv, env=None):
        log = open(os.path.join(self.dir, name + '.out'), 'w')
        self._logs.append(log)
        # -f: in the foreground, so the PID we hold is the daemon's own.
        # A session of its own (setsid): with the kernel's autogroups
        # (sched_autogroup_enabled=1) the cluster is then scheduled as a
        # group beside ours, as if it ran on other machines, instead of
        # sharing one group's CPU with the test, the server under test and
        # fio.  Still stopped by PID.
        self.procs[name] = subprocess.Popen(argv, env=dict(self.env(), **(env or {})),
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                            start_new_session=True)

    def _wait(self, ready, what):
        end = time.monotonic() + STEP_TIMEOUT
        while True:
            for name, p in self.procs.items():
                if p.poll() is not None:
                    raise bgtest.TestFailure('%s exited with %d while waiting for %s:\n%s'
                                             % (name, p.returncode, what, self.log_tail(name)))
            try:
                if ready():
                    return
            except subprocess.TimeoutExpired:
                pass
            if time.monotonic() > end:
                raise bgtest.TestFailure('timed out waiting for %s' % what)
            time.sleep(0.2)

    def log_tail(self, name, lines=20):
        path = os.path.join(self.dir, name + '.log')
        try:
            with open(path, errors='replace') as f:
                return ''.join(f.readlines()[-lines:])
        except OSError:
            return ''

    # -- stop
    def _stop_proc(self, name):
        p = self.procs.pop(name, None)
        if not p or p.poll() is not None:
            return
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def stop_osd(self):
        """Stops the OSD: the monitor still answers, I/O does not."""
        self._stop_proc('osd.0')

    def stop(self):
        if self.client:
            self.client.shutdown()
            self.client = None
        for name in ('osd.0', 'mon.a'):
            self._stop_proc(name)
        for log in self._logs:
            log.close()
        self._logs = []
        if os.environ.get('BG_CEPH_KEEP'):
            print('ceph cluster folder kept: %s' % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
