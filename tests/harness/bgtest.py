# SPDX-License-Identifier: LGPL-2.1-or-later
"""Shared harness for blockgraph bus and interop tests.

Starts a private dbus-daemon and build/daemon/blockgraphd on it, hands out
D-Bus proxies, and on teardown sends SIGTERM and fails the test unless the
daemon exits 0 within SHUTDOWN_TIMEOUT seconds without a sanitizer report.

Run tests with /usr/bin/python3 (Debian's python3-dbus, and python3-gi for
signals and asynchronous calls: without it those tests skip).
A test script looks like this:

    #!/usr/bin/python3
    import os, sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'harness'))
    import bgtest

    def main():
        with bgtest.Daemon() as d:
            path = d.manager.AddNode('<blockdev driver="null-co" node-name="n0"/>')
            bgtest.check_equal(d.node_props('n0')['Size'], 1 << 30)

    bgtest.run(main)

API (kept small on purpose):
  Daemon(config_dir=None, args=(), wait=True, policy_file=None)
      context manager (policy_file: a system.d policy, or a list of them; the
      private bus then denies what the system bus denies unless a file allows
      it); attributes
      .bus (dbus.bus.BusConnection), .address, .manager (Manager interface),
      .tmpdir (a scratch folder removed at the end), .proc (Popen)
      .obj(path) / .iface(path, interface) / .props(path, interface)
      .node_path(name) / .node(name) (Node interface) / .node_props(name)
      .graph_xml() (Manager.GetGraph('xml'))
      .signals()  -> SignalRecorder of every signal from the daemon
      .stop()     SIGTERM + checks (called by __exit__)
  run_daemon_once(args, config_dir=None) -> (returncode, stdout, stderr)
      for --check-config and start-up failures (no bus needed unless asked).
  expect_error(name, fn, *args) -> the DBusException (name: short,
      e.g. 'InvalidXml', or a full error name)
  check(cond, msg) / check_equal(a, b, msg='') / skip(msg) / run(main)
  BLOCKGRAPHD: path of the daemon (env BLOCKGRAPHD, set by meson)
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

import dbus
import dbus.mainloop.glib

try:        # python3-gi: needed to receive signals and asynchronous replies
    from gi.repository import GLib
except ImportError:
    GLib = None

dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)

BUS_NAME = 'org.blockgraph.BlockGraph1'
ROOT_PATH = '/org/blockgraph/BlockGraph1'
IFACE = 'org.blockgraph.BlockGraph1'
MANAGER = IFACE + '.Manager'
NODE = IFACE + '.Node'
DRIVER = IFACE + '.Driver'
EXPORT = IFACE + '.Export'
JOB = IFACE + '.Job'
ERROR = IFACE + '.Error.'
PROPS = 'org.freedesktop.DBus.Properties'
OBJMGR = 'org.freedesktop.DBus.ObjectManager'

SHUTDOWN_TIMEOUT = float(os.environ.get('BG_SHUTDOWN_TIMEOUT', '10'))
START_TIMEOUT = float(os.environ.get('BG_START_TIMEOUT', '15'))

_here = os.path.dirname(os.path.abspath(__file__))
BLOCKGRAPHD = os.environ.get('BLOCKGRAPHD') or os.path.join(
    _here, '..', '..', 'build', 'daemon', 'blockgraphd')

SANITIZER_MARKERS = ('ERROR: AddressSanitizer', 'ERROR: LeakSanitizer',
                     'runtime error:', 'SUMMARY: UndefinedBehaviorSanitizer',
                     'WARNING: ThreadSanitizer')


class TestFailure(Exception):
    pass


class Skip(Exception):
    pass


def check(cond, msg='check failed'):
    if not cond:
        raise TestFailure(msg)


def check_equal(a, b, msg=''):
    if a != b:
        raise TestFailure('%s%r != %r' % (msg + ': ' if msg else '', a, b))


def thread_status(pid):
    """Each live thread of process pid: its /proc status as {field: value}
    (threads that end while this reads are left out)."""
    tasks = '/proc/%d/task' % pid
    result = []
    for tid in os.listdir(tasks):
        try:
            with open(os.path.join(tasks, tid, 'status')) as f:
                result.append(dict(line.rstrip('\n').split(':\t', 1) for line in f if ':\t' in line))
        except FileNotFoundError:
            pass
    return result


def skip(msg):
    raise Skip(msg)


def need_tool(name):
    """Skips the test (exit 77) when an external tool is missing."""
    path = shutil.which(name)
    if not path:
        skip('%s not installed' % name)
    return path


def expect_error(name, fn, *args, **kwargs):
    """Calls fn and returns the DBusException; fails unless its name is name."""
    full = name if '.' in name else ERROR + name
    try:
        fn(*args, **kwargs)
    except dbus.exceptions.DBusException as e:
        if e.get_dbus_name() != full:
            raise TestFailure('expected %s, got %s: %s'
                              % (full, e.get_dbus_name(), e.get_dbus_message()))
        return e
    raise TestFailure('expected %s, call succeeded' % full)


def _sanitizer_report(text):
    return any(m in text for m in SANITIZER_MARKERS)


# System-bus-like default policy (as Debian's system.conf): everything
# denied unless a policy file (included after it) allows it.
SYSTEM_POLICY = '''
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
'''
SESSION_POLICY = '''
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
'''


class DBusDaemon:
    """A private message bus in its own folder: session-like, or system-like
    with policy_file (a system.d file) included."""

    def __init__(self, tmpdir, policy_file=None):
        self.dir = tmpdir
        conf = os.path.join(tmpdir, 'bus.conf')
        if policy_file:
            files = [policy_file] if isinstance(policy_file, str) else policy_file
            policy = SYSTEM_POLICY + ''.join('  <include>%s</include>\n' % f for f in files)
        else:
            policy = SESSION_POLICY
        with open(conf, 'w') as f:
            f.write('''<!DOCTYPE busconfig PUBLIC
 "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  %s
  <limit name="max_replies_per_connection">1000000</limit>
  <limit name="max_match_rules_per_connection">100000</limit>
</busconfig>
''' % (os.path.join(tmpdir, 'bus.sock'), policy))
        self._log = open(os.path.join(tmpdir, 'dbus-daemon.log'), 'w')
        self.proc = subprocess.Popen(
            ['dbus-daemon', '--config-file=' + conf, '--nofork',
             '--print-address=1', '--nopidfile'],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, stderr=self._log)
        line = self.proc.stdout.readline().decode().strip()
        if not line:
            raise TestFailure('dbus-daemon did not print its address')
        self.address = line

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self._log.close()


class SignalRecorder:
    """Records every signal sent by the daemon's connection."""

    def __init__(self, bus):
        if GLib is None:
            skip('python3-gi is not installed (needed to receive D-Bus signals)')
        self.bus = bus
        self.items = []   # (interface, member, path, args)
        self._match = bus.add_signal_receiver(
            self._on_signal, sender_keyword='sender', path_keyword='path',
            interface_keyword='interface', member_keyword='member',
            bus_name=BUS_NAME)

    def _on_signal(self, *args, **kw):
        self.items.append((kw['interface'], kw['member'], kw['path'], args))

    def pump(self, seconds=0.0):
        """Dispatches pending messages, for at least `seconds`."""
        ctx = GLib.MainContext.default()
        end = time.monotonic() + seconds
        while True:
            while ctx.iteration(False):
                pass
            if time.monotonic() >= end:
                break
            time.sleep(0.005)

    def wait_for(self, predicate, timeout=5.0):
        """Pumps until predicate(items) is true; fails on timeout."""
        end = time.monotonic() + timeout
        while not predicate(self.items):
            if time.monotonic() > end:
                raise TestFailure('timed out waiting for signals; got %r'
                                  % [(i[1], str(i[2])) for i in self.items])
            self.pump(0.01)

    def named(self, member):
        return [i for i in self.items if i[1] == member]

    def close(self):
        self._match.remove()


class Daemon:
    """blockgraphd on a private bus.  Use as a context manager."""

    def __init__(self, config_dir=None, args=(), wait=True, policy_file=None, prefix=()):
        self.prefix = list(prefix)      # a wrapper the daemon runs under
        self.tmpdir = tempfile.mkdtemp(prefix='bgtest-')
        self.policy_file = policy_file
        self.config_dir = config_dir
        self.args = list(args)
        self.wait = wait
        self.proc = None
        self.dbus_daemon = None
        self.bus = None
        self.stderr_path = os.path.join(self.tmpdir, 'blockgraphd.stderr')
        self._stopped = False

    # -- life cycle
    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self._cleanup(check=False)
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        self._cleanup(check=exc_type is None)
        return False

    def start(self):
        if not os.access(BLOCKGRAPHD, os.X_OK):
            raise TestFailure('blockgraphd not found at %s (set BLOCKGRAPHD)' % BLOCKGRAPHD)
        self.dbus_daemon = DBusDaemon(self.tmpdir, self.policy_file)
        self.address = self.dbus_daemon.address
        self.bus = dbus.bus.BusConnection(self.address)
        cmd = self.prefix + [BLOCKGRAPHD, '--address=' + self.address]
        if self.config_dir:
            cmd.append('--config-dir=' + self.config_dir)
        cmd += self.args
        self._stderr = open(self.stderr_path, 'w')
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=self._stderr, stderr=self._stderr)
        if self.wait:
            self.wait_ready()

    def wait_ready(self):
        end = time.monotonic() + START_TIMEOUT
        while not self.bus.name_has_owner(BUS_NAME):
            if self.proc.poll() is not None:
                raise TestFailure('blockgraphd exited with %d before owning %s:\n%s'
                                  % (self.proc.returncode, BUS_NAME, self.stderr()))
            if time.monotonic() > end:
                raise TestFailure('blockgraphd did not own %s within %ss:\n%s'
                                  % (BUS_NAME, START_TIMEOUT, self.stderr()))
            time.sleep(0.02)
        self.manager = self.iface(ROOT_PATH, MANAGER)

    def stderr(self):
        try:
            with open(self.stderr_path, errors='replace') as f:
                return f.read()
        except OSError:
            return ''

    def stop(self):
        """SIGTERM; fails unless the daemon exits 0 soon without a sanitizer report."""
        if self._stopped or not self.proc:
            return
        self._stopped = True
        if self.proc.poll() is not None:
            raise TestFailure('blockgraphd died early with %d:\n%s'
                              % (self.proc.returncode, self.stderr()))
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(SHUTDOWN_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise TestFailure('blockgraphd did not exit within %ss of SIGTERM:\n%s'
                              % (SHUTDOWN_TIMEOUT, self.stderr()))
        err = self.stderr()
        if rc != 0:
            raise TestFailure('blockgraphd exited with %d after SIGTERM:\n%s' % (rc, err))
        if _sanitizer_report(err):
            raise TestFailure('sanitizer report from blockgraphd:\n%s' % err)

    def _cleanup(self, check):
        try:
            if self.proc and not self._stopped:
                if check:
                    self.stop()
                else:
                    self._stopped = True
                    if self.proc.poll() is None:
                        self.proc.kill()
                        self.proc.wait()
                    sys.stderr.write('--- blockgraphd stderr ---\n%s' % self.stderr())
        finally:
            if self.bus is not None:
                self.bus.close()
            if self.dbus_daemon:
                self.dbus_daemon.stop()
            if getattr(self, '_stderr', None):
                self._stderr.close()
            shutil.rmtree(self.tmpdir, ignore_errors=True)

    # -- proxies
    def obj(self, path):
        return self.bus.get_object(BUS_NAME, path, introspect=False)

    def iface(self, path, interface):
        return dbus.Interface(self.obj(path), interface)

    def props(self, path, interface):
        return self.iface(path, PROPS).GetAll(interface)

    def node_path(self, name):
        return self.manager_path('node', name)

    def manager_path(self, kind, name):
        return ROOT_PATH + '/' + kind + '/' + encode_path_label(name)

    def node(self, name):
        return self.iface(self.node_path(name), NODE)

    def node_props(self, name):
        return self.props(self.node_path(name), NODE)

    def graph_xml(self):
        return str(self.manager.GetGraph('xml'))

    def managed_objects(self):
        return self.iface(ROOT_PATH, OBJMGR).GetManagedObjects()

    def signals(self):
        return SignalRecorder(self.bus)


def remove_export_safe(d, path, timeout=30):
    """Remove('safe') once the export at `path` counts no client: a client's
    close is seen by the daemon some loop turns after the client has exited."""
    end = time.monotonic() + timeout
    while int(d.props(path, EXPORT)['Clients']) != 0:
        if time.monotonic() > end:
            raise TestFailure('%s: still %s clients after %d s'
                              % (path, d.props(path, EXPORT)['Clients'], timeout))
        time.sleep(0.02)
    d.iface(path, EXPORT).Remove('safe')


def encode_path_label(name):
    """sd_bus_path_encode's escaping of one path label."""
    if name == '':
        return '_'
    out = []
    for i, ch in enumerate(name):
        if ch.isascii() and (ch.isalpha() or (ch.isdigit() and i > 0)):
            out.append(ch)
        else:
            out.extend('_%02x' % b for b in ch.encode())
    return ''.join(out)


def run_daemon_once(args, timeout=30):
    """Runs blockgraphd with args (no bus), returns (rc, stdout, stderr)."""
    p = subprocess.run([BLOCKGRAPHD] + list(args), stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=timeout)
    if _sanitizer_report(p.stderr):
        raise TestFailure('sanitizer report from blockgraphd:\n%s' % p.stderr)
    return p.returncode, p.stdout, p.stderr


def run(main):
    """Runs main(); exit 0 on success, 77 on skip, 1 on failure."""
    try:
        main()
    except Skip as e:
        print('SKIP: %s' % e)
        sys.exit(77)
    except TestFailure as e:
        print('FAIL: %s' % e)
        traceback.print_exc()
        sys.exit(1)
    except Exception:
        traceback.print_exc()
        sys.exit(1)
    print('PASS')
    sys.exit(0)
