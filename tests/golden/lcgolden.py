# Reader and writer of the LCGOLDEN binary format (tests/golden/golden_file.h is the C++ reader).
# Used by make_golden.py (writer) and the profiling scripts (reader checks). Depends on numpy only.
#
# Format, version 1, little-endian throughout:
#   8 bytes  magic "LCGOLDEN"
#   u32      version (1)
#   u32      record count
#   records, each:
#     u32        name length, then the name bytes (UTF-8, no terminator)
#     u32        dtype: 0 f32, 1 f64, 2 i32, 3 u8, 4 i64
#     u32        ndim, then ndim i64 dims (ndim 0: a scalar, one element)
#     the data, row-major (C order), prod(dims) elements of dtype
import struct

import numpy as np

MAGIC = b"LCGOLDEN"
VERSION = 1
DTYPES = {0: np.dtype("<f4"), 1: np.dtype("<f8"), 2: np.dtype("<i4"), 3: np.dtype("u1"), 4: np.dtype("<i8")}


def write(path, records):
    """records: list of (name, numpy array); arrays must have one of the dtypes above."""
    with open(path, "wb") as f:
        f.write(MAGIC)
        f.write(struct.pack("<II", VERSION, len(records)))
        for name, arr in records:
            arr = np.ascontiguousarray(arr)
            code = next((c for c, d in DTYPES.items()
                         if d.kind == arr.dtype.kind and d.itemsize == arr.dtype.itemsize), None)
            if code is None:
                raise ValueError(f"{name}: unsupported dtype {arr.dtype}")
            nb = name.encode("utf-8")
            f.write(struct.pack("<I", len(nb)))
            f.write(nb)
            f.write(struct.pack("<II", code, arr.ndim))
            f.write(struct.pack(f"<{arr.ndim}q", *arr.shape))
            f.write(arr.astype(DTYPES[code], copy=False).tobytes(order="C"))


def read(path):
    """Returns an ordered dict name -> numpy array."""
    out = {}
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != MAGIC:
        raise ValueError(f"{path}: not an LCGOLDEN file")
    version, count = struct.unpack_from("<II", data, 8)
    if version != VERSION:
        raise ValueError(f"{path}: version {version}, this reader knows {VERSION}")
    pos = 16
    for _ in range(count):
        (n,) = struct.unpack_from("<I", data, pos)
        pos += 4
        name = data[pos:pos + n].decode("utf-8")
        pos += n
        code, ndim = struct.unpack_from("<II", data, pos)
        pos += 8
        dims = struct.unpack_from(f"<{ndim}q", data, pos)
        pos += 8 * ndim
        dt = DTYPES[code]
        size = int(np.prod(dims, dtype=np.int64)) if ndim else 1
        arr = np.frombuffer(data, dtype=dt, count=size, offset=pos).reshape(dims)
        pos += size * dt.itemsize
        out[name] = arr
    if pos != len(data):
        raise ValueError(f"{path}: {len(data) - pos} trailing bytes")
    return out
