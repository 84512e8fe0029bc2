#!/usr/bin/env python3
"""Lists the GPU code embedded in a binary: one line per fatbin entry (kind, architecture, size),
then a count per architecture. Reads the .nv_fatbin section directly, so it needs neither a GPU
nor cuobjdump (which some toolkit installs lack).   usage: list_cubins.py build/landcover"""
import collections
import struct
import subprocess
import sys
import tempfile

FATBIN_MAGIC = 0xBA55ED50


def fatbin_section(path):
    with tempfile.NamedTemporaryFile() as out:
        subprocess.run(["objcopy", "-O", "binary", "--only-section=.nv_fatbin", path, out.name], check=True)
        return open(out.name, "rb").read()


def entries(blob):
    pos = 0
    while pos + 16 <= len(blob):
        magic, _version, header_size, fat_size = struct.unpack_from("<IHHQ", blob, pos)
        if magic != FATBIN_MAGIC:
            pos += 8  # fatbins are 8-byte aligned; skip padding
            continue
        entry, end = pos + header_size, pos + header_size + fat_size
        while entry < end:
            kind, _flags, ehdr, payload = struct.unpack_from("<HHIQ", blob, entry)
            arch = struct.unpack_from("<I", blob, entry + 28)[0]
            yield ("PTX" if kind == 1 else "ELF" if kind == 2 else f"kind{kind}"), arch, payload
            entry += ehdr + payload
        pos = end


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    counts = collections.Counter()
    for kind, arch, size in entries(fatbin_section(sys.argv[1])):
        print(f"{kind:4} sm_{arch:<4} {size:>9} bytes")
        counts[(kind, arch)] += 1
    print("summary:", ", ".join(f"{n} x {k} sm_{a}" for (k, a), n in sorted(counts.items())))
    if not counts:
        sys.exit("no GPU code found")


if __name__ == "__main__":
    main()
