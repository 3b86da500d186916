# SPDX-License-Identifier: LGPL-2.1-or-later
"""Shared set-up for the bgctl tests: runs build/cli/bgctl against the
daemon of tests/harness/bgtest.py on its private bus."""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'harness'))
import bgtest  # noqa: E402

_here = os.path.dirname(os.path.abspath(__file__))
BGCTL = os.environ.get('BGCTL') or os.path.join(_here, '..', '..', 'build', 'cli', 'bgctl')


def bgctl(d, *args, input=None, check=None, address=True, timeout=60):
    """Runs bgctl on d's bus; returns the CompletedProcess (text).
    check: the exit code it must have (None: any)."""
    cmd = [BGCTL] + (['--address', d.address] if address and d else []) + list(args)
    p = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout,
                       stdin=None if input is not None else subprocess.DEVNULL)
    if bgtest._sanitizer_report(p.stderr):
        raise bgtest.TestFailure('sanitizer report from bgctl %s:\n%s' % (args, p.stderr))
    if check is not None and p.returncode != check:
        raise bgtest.TestFailure('bgctl %s: exit %d, expected %d\nstdout: %s\nstderr: %s'
                                 % (' '.join(args), p.returncode, check, p.stdout, p.stderr))
    return p


def ok(d, *args, **kw):
    """bgctl that must succeed; returns its stdout."""
    return bgctl(d, *args, check=0, **kw).stdout


def json_of(d, *args, **kw):
    """bgctl --json ... parsed back."""
    return json.loads(ok(d, '--json', *args, **kw))


def fails(d, code, text, *args, **kw):
    """bgctl that must exit with code and say text on stderr (nothing on stdout)."""
    p = bgctl(d, *args, check=code, **kw)
    bgtest.check(text in p.stderr, 'bgctl %s: %r not in stderr %r' % (args, text, p.stderr))
    bgtest.check(p.stderr.startswith('bgctl: '), 'message starts with bgctl: %r' % p.stderr)
    return p


def plain(value):
    """A dbus-python value as the JSON bgctl prints (structs become lists)."""
    import dbus
    if isinstance(value, dbus.Boolean):
        return bool(value)
    if isinstance(value, (dbus.Array, dbus.Struct, list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dbus.Dictionary):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (dbus.String, dbus.ObjectPath, dbus.Signature)):
        return str(value)
    if isinstance(value, dbus.Double):
        return float(value)
    return int(value)
