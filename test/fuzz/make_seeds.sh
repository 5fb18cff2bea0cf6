#!/usr/bin/env bash
# make_seeds.sh OUT: builds the seed corpus of every harness in OUT/<harness>/
# from real objects: the checked-in seeds (seeds/: manifests and tables.json
# written by the manifest code, option documents as the SQL API passes them,
# S3 answers as AWS documents them, a complete small pg_dump archive made by
# make_archive_seed.sh) and the unit tests' fixtures (pg_dump 15 archives in
# test/unit/archive/data/, the C2SP age test vectors in
# test/unit/crypto/data/age/), and tar archives the stock tar writes.
set -euo pipefail
out=${1:?usage: make_seeds.sh OUT}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../.." && pwd)

rm -rf "$out"
mkdir -p "$out"/{json,manifest,archive_scanner,age,s3_xml,tar}
cp "$here"/seeds/json/* "$out/json/"
cp "$here"/seeds/json/* "$out/manifest/"
cp "$here"/seeds/s3_xml/* "$out/s3_xml/"
cp "$here"/seeds/archive_scanner/* "$out/archive_scanner/"

# The archive fixtures are megabytes (a 300000-row table); seeds stay small:
# the header and TOC with the first data blocks, and custom.dump without the
# big table's data block (bytes 6937 to 3873956, the offsets pg_dump recorded
# in seekable.dump, see archive_scanner_test.cpp), which leaves every other
# block, the large object's included.
data="$src/test/unit/archive/data"
zstd -q -dc "$data/custom.dump.zst" >"$out/custom.dump"
head -c 8192 "$out/custom.dump" >"$out/archive_scanner/custom_head.dump"
if [[ $(od -A n -t x1 -j 3873956 -N 1 "$out/custom.dump") == " 01" ]]; then
  { head -c 6937 "$out/custom.dump"; tail -c +3873957 "$out/custom.dump"; } \
    >"$out/archive_scanner/custom_without_big.dump"
fi
rm "$out/custom.dump"
# head_of FIXTURE BYTES SEED: the first bytes of a fixture (not through a
# pipe, which would make zstd fail on SIGPIPE).
head_of() {
  zstd -q -dc "$data/$1.zst" >"$out/fixture"
  head -c "$2" "$out/fixture" >"$out/archive_scanner/$3"
  rm "$out/fixture"
}
head_of seekable.dump 8192 seekable_head.dump
head_of compressed.dump 4096 compressed_head.dump
head_of plain.sql 1024 plain_head.sql

# Each C2SP vector is a few lines of expectations, an empty line, then the
# age file itself.
for vector in "$src"/test/unit/crypto/data/age/*; do
  [[ $vector == *.py ]] && continue
  perl -0777 -ne 'print $1 if /\A.*?\n\n(.*)\z/s' "$vector" >"$out/age/$(basename "$vector")"
done

# Tar archives as the stock tar writes them, in the layouts a base backup
# has (directories, files, a link within, a long name), ustar, GNU and pax.
tree="$out/tar_tree"
mkdir -p "$tree/base/1" "$tree/pg_tblspc" "$tree/global"
printf 'START WAL LOCATION: 0/2000028\n' >"$tree/backup_label"
head -c 700 /dev/zero >"$tree/global/pg_control"
printf 'x' >"$tree/base/1/$(printf 'n%.0s' {1..120})"
ln -s base/1 "$tree/inside"
tar --format=ustar -C "$tree" -cf "$out/tar/ustar.tar" backup_label global pg_tblspc inside
tar --format=gnu -C "$tree" -cf "$out/tar/gnu.tar" .
tar --format=pax -C "$tree" -cf "$out/tar/pax.tar" .
rm -rf "$tree"

echo "make_seeds: $(find "$out" -type f | wc -l) seeds in $out"
