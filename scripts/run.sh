#!/usr/bin/env bash
# Installs, builds and runs blockgraphd.  Without arguments it starts a private
# D-Bus bus for it and applies the example configuration in data/examples;
# any arguments go to blockgraphd instead (e.g. --system).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh build

if [ $# -gt 0 ]; then
  exec build/daemon/blockgraphd "$@"
fi

rundir=$(mktemp -d /tmp/blockgraph-run.XXXXXX)
cat > "$rundir/bus.conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=$rundir/bus.sock</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
CONF
dbus-daemon --config-file="$rundir/bus.conf" --fork --print-pid > "$rundir/bus.pid"
address="unix:path=$rundir/bus.sock"
trap 'kill "$(cat "$rundir/bus.pid")" 2>/dev/null; rm -rf "$rundir"' EXIT

cat <<MSG
blockgraphd is starting on a private bus: $address
Reach it with, for example:
  busctl --address=$address tree org.blockgraph.BlockGraph1
  busctl --address=$address get-property org.blockgraph.BlockGraph1 /org/blockgraph/BlockGraph1 org.blockgraph.BlockGraph1.Manager Features
  gdbus call --address $address -d org.blockgraph.BlockGraph1 -o /org/blockgraph/BlockGraph1 \\
    -m org.blockgraph.BlockGraph1.Manager.GetGraph dot
Stop it with Ctrl-C.
MSG
build/daemon/blockgraphd --check-config --config-dir=data/examples
build/daemon/blockgraphd --address="$address" --config-dir=data/examples
