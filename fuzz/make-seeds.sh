#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Regenerates the seed corpora in fuzz/corpus/ from real tools:
#   qcow2-header  images qemu-img made (backing file, bitmaps, compressed
#                 clusters zlib and zstd, snapshots, v2, refcount widths,
#                 extended L2, zero clusters), written with qemu-io
#   nbd-proto     what nbdinfo, qemu-img, qemu-io and qemu-nbd send to an
#                 NBD server (nbdkit), recorded by nbd-record.py
#   xml-*, config snippets in the forms docs/xml.md describes
# Usage: fuzz/make-seeds.sh   (needs qemu-img, qemu-io, qemu-nbd, nbdkit, nbdinfo)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
corpus=$here/corpus
tmp=$(mktemp -d /tmp/bg-seeds-XXXXXX)
nbdkit_pid=
record_pid=
cleanup() {
  [ -n "$record_pid" ] && kill "$record_pid" 2>/dev/null || true
  [ -n "$nbdkit_pid" ] && kill "$nbdkit_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# ---- qcow2-header ------------------------------------------------------------
qcow2_seeds() {
  local out=$corpus/qcow2-header q="qemu-img" io="qemu-io -f qcow2"
  rm -rf "$out" && mkdir -p "$out"
  cd "$tmp"
  $q create -q -f qcow2 -o cluster_size=512 empty.qcow2 64K
  $q create -q -f qcow2 -o cluster_size=512 data.qcow2 64K
  $io -c 'write -P 0x11 0 4k' -c 'write -z 8k 2k' -c 'write -P 0x22 60k 4k' data.qcow2 >/dev/null
  $q create -q -f qcow2 -o cluster_size=512 -b data.qcow2 -F qcow2 backed.qcow2
  $io -c 'write -P 0x33 2k 1k' -c 'discard 60k 2k' backed.qcow2 >/dev/null
  cp data.qcow2 bitmaps.qcow2
  $q bitmap --add bitmaps.qcow2 bm0
  $q bitmap --add --granularity 4096 bitmaps.qcow2 bm1
  $io -c 'write -P 0x44 16k 2k' bitmaps.qcow2 >/dev/null
  $q bitmap --disable bitmaps.qcow2 bm1
  head -c 16384 /dev/zero | tr '\0' 'a' > text.raw
  seq 1 4000 | head -c 16384 >> text.raw
  $q convert -q -c -O qcow2 -o cluster_size=4096 -f raw text.raw zlib.qcow2
  $q convert -q -c -O qcow2 -o cluster_size=4096,compression_type=zstd -f raw text.raw zstd.qcow2
  $q create -q -f qcow2 -o cluster_size=512,compat=0.10 v2.qcow2 64K
  $io -c 'write -P 0x55 0 1k' v2.qcow2 >/dev/null
  $q create -q -f qcow2 -o cluster_size=512,refcount_bits=1 refcount1.qcow2 64K
  $q create -q -f qcow2 -o cluster_size=512,refcount_bits=64 refcount64.qcow2 64K
  $io -c 'write -P 0x66 4k 1k' refcount64.qcow2 >/dev/null
  $q create -q -f qcow2 -o cluster_size=16384,extended_l2=on extl2-full.qcow2 64K
  head -c 16384 extl2-full.qcow2 > extl2.qcow2     # refused at the header: keep that
  $q create -q -f qcow2 -o cluster_size=512,lazy_refcounts=on lazy.qcow2 64K
  cp data.qcow2 snapshot.qcow2
  $q snapshot -c snap0 snapshot.qcow2
  qemu-io -f qcow2 -c 'write -P 0x88 0 1k' snapshot.qcow2 >/dev/null
  for f in empty data backed bitmaps zlib zstd v2 refcount1 refcount64 extl2 lazy snapshot; do
    cp "$f.qcow2" "$out/$f.qcow2"
  done
  cd - >/dev/null
}

# ---- nbd-proto ---------------------------------------------------------------
nbd_seeds() {
  local out=$corpus/nbd-proto sock=$tmp/nbdkit.sock rec=$tmp/rec.sock
  rm -rf "$out" && mkdir -p "$out"
  nbdkit -f -U "$sock" memory 1M &
  nbdkit_pid=$!
  python3 "$here/nbd-record.py" "$rec" "$sock" "$tmp/nbd" &
  record_pid=$!
  for _ in $(seq 50); do [ -S "$sock" ] && [ -S "$rec" ] && break; sleep 0.1; done
  local uri="nbd+unix:///disk0?socket=$rec"
  nbdinfo "$uri" >/dev/null
  nbdinfo --list "nbd+unix://?socket=$rec" >/dev/null
  nbdinfo --map "$uri" >/dev/null
  nbdinfo --content "$uri" >/dev/null || true
  qemu-img info -f raw "$uri" >/dev/null
  qemu-io -f raw -c 'write -P 0x11 0 4k' -c 'read 0 4k' -c 'write -z 64k 64k' \
          -c 'discard 128k 64k' -c 'flush' "$uri" >/dev/null
  qemu-io -r -f raw -c 'read 512 1k' -c 'map' "$uri" >/dev/null
  qemu-img map -f raw --output=json "$uri" >/dev/null
  qemu-nbd -L -k "$rec" >/dev/null
  printf 'hello' > "$tmp/small.raw"
  qemu-img dd -f raw -O raw if="$tmp/small.raw" of="$uri" bs=512 count=1 2>/dev/null || true
  sleep 0.5
  kill "$record_pid"; record_pid=
  kill "$nbdkit_pid"; nbdkit_pid=
  local i=0
  for f in "$tmp"/nbd-*; do
    [ -s "$f" ] || continue
    i=$((i + 1))
    cp "$f" "$out/recorded-$i"
  done
}

# ---- XML ---------------------------------------------------------------------
put() { printf '%s' "$2" > "$1"; }

xml_seeds() {
  local b=$corpus/xml-blockdev r=$corpus/xml-reopen e=$corpus/xml-export c=$corpus/config
  rm -rf "$b" "$r" "$e" "$c" && mkdir -p "$b" "$r" "$e" "$c"
  put "$b/null-co" '<blockdev driver="null-co" node-name="n1" size="64M" read-zeroes="on" latency-ns="0"/>'
  put "$b/file" '<blockdev driver="file" node-name="f1" filename="raw1" aio="threads" locking="auto" discard="unmap" detect-zeroes="unmap"><cache direct="off" no-flush="off"/></blockdev>'
  put "$b/raw-window" '<blockdev driver="raw" node-name="r1" offset="512" size="4096" read-only="on"><file ref="file0"/></blockdev>'
  put "$b/raw-inline" '<blockdev driver="raw" node-name="r2"><file driver="null-co" size="1M"/></blockdev>'
  put "$b/qcow2-inline" '<blockdev driver="qcow2" node-name="q1" l2-cache-size="1M" lazy-refcounts="off" pass-discard-request="on" overlap-check="all"><file driver="file" node-name="q1f" filename="q1.qcow2"/><backing/></blockdev>'
  put "$b/qcow2-backing" '<blockdev driver="qcow2" node-name="q2" auto-read-only="on" read-only="on"><file driver="file" filename="q1.qcow2" read-only="on"/><backing ref="null0"/></blockdev>'
  put "$b/qcow2-on-q0file" '<blockdev driver="qcow2" node-name="q3" read-only="on" force-share="on"><file ref="qf0"/></blockdev>'
  put "$b/raw-on-raw" '<blockdev driver="raw" node-name="r3"><file driver="raw" offset="1024"><file driver="file" filename="raw0" read-only="on" force-share="on"/></file></blockdev>'
  put "$b/self-ref" '<blockdev driver="raw" node-name="r4"><file ref="r4"/></blockdev>'
  put "$b/error" '<blockdev driver="error" node-name="e1" size="1M"/>'
  put "$r/null-read-only" '<blockdev driver="null-co" node-name="null0" size="1M" read-only="on"/>'
  printf '%s\0%s' '<blockdev driver="raw" node-name="raw0" offset="0" size="4096"><file ref="file0"/></blockdev>' \
      '<blockdev driver="file" node-name="file0" filename="raw0" read-only="on"/>' > "$r/raw-window-ro"
  put "$r/qcow2-options" '<blockdev driver="qcow2" node-name="q0" l2-cache-size="64k" cache-clean-interval="10" discard-no-unref="on"><file ref="qf0"/><backing ref="raw0"/></blockdev>'
  put "$r/qcow2-drop-backing" '<blockdev driver="qcow2" node-name="q0"><file ref="qf0"/><backing/></blockdev>'
  put "$r/qcow2-read-only" '<blockdev driver="qcow2" node-name="q0" read-only="on"><file ref="qf0"/><backing ref="null0"/></blockdev>'
  put "$r/inline-file" '<blockdev driver="qcow2" node-name="q0"><file driver="file" node-name="qf0" filename="q0.qcow2" detect-zeroes="on"/><backing ref="raw0"/></blockdev>'
  printf '%s\0%s' '<blockdev driver="raw" node-name="raw0"><file ref="null0"/></blockdev>' \
      '<blockdev driver="qcow2" node-name="q0"><file ref="qf0"/><backing ref="file0"/></blockdev>' > "$r/swap-children"
  put "$r/cycle" '<blockdev driver="raw" node-name="raw0"><file ref="q0"/></blockdev>'
  put "$r/file-swap" '<blockdev driver="file" node-name="file0" filename="raw1"><cache direct="off" no-flush="on"/></blockdev>'
  put "$e/unix" '<export type="nbd" id="e0" node-name="disk0" name="disk0" writable="on"><server type="unix" path="/run/blockgraph/nbd.sock"/></export>'
  put "$e/inet" '<export type="nbd" id="e1" node-name="base0" description="golden image"><server type="inet" host="127.0.0.1" port="10809"/></export>'
  put "$e/inet6" '<export type="nbd" id="e2" node-name="n" writable="off"><server type="inet" host="::1"/></export>'
  cp "$here/../tests/unit/data-xml/good-config.xml" "$c/good-config.xml"
  put "$c/sandbox" '<?xml version="1.0"?>
<blockgraph>
  <blockdev driver="file" node-name="c-f" filename="raw1"/>
  <blockdev driver="raw" node-name="c-r" offset="512"><file ref="c-f"/></blockdev>
  <blockdev driver="qcow2" node-name="c-q"><file driver="file" filename="q1.qcow2"/><backing ref="c-r"/></blockdev>
  <export type="nbd" id="e0" node-name="c-q" writable="on"><server type="unix" path="/tmp/x.sock"/></export>
</blockgraph>'
  put "$c/bad-line" "$(cat "$here/../tests/unit/data-xml/bad-line.xml")"
}

qcow2_seeds
nbd_seeds
xml_seeds
du -sh "$corpus"/*
