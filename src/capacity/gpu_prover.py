#!/usr/bin/env python3
"""Aethir Proof of Capacity: the GPU prover (PyTorch on CUDA).

Speaks the capacity protocol (src/capacity/protocol.ts, docs/verification.md): one JSON
object per line on stdin and stdout, diagnostics on stderr.

  python3 -u gpu_prover.py [--device cuda|cpu] [--threads N] [--method int8|float32] [--working-mib N]

It derives A and B (n x n, int8 entries in [-128, 127]) from the challenge's seed exactly as
challenge.ts does, computes C = A.B exactly in int32 (int8 tensor cores through torch._int_mm, or,
where that is missing, float32 matmuls over chunks of 1024 of the inner dimension, whose partial sums
stay <= 2^24 and are therefore exact), hashes C's rows into a Merkle tree on the host and answers
with the root; then it opens the rows the checker asks for. While it proves it holds the memory the
challenge asks for (memoryMiB) on the device at once.

Without PyTorch, or without a visible CUDA device, it answers with an error message and exits 2.
`--device cpu` runs the same code on the CPU: for testing the prover's arithmetic on a machine
without a GPU, never for a real check (a CPU cannot meet a GPU class's deadline). `--method
float32` forces the fallback (what a part without INT8 tensor cores runs), to test or time it.

The memory proof's fill and read work in steps sized to the memory left free beside the tiles
(torch.cuda.mem_get_info, and what PyTorch's cache holds unused), so that a device with less room
than expected (a display, another process) takes more, smaller steps rather than running out of
memory. `--working-mib N` caps that room (on a CPU, where nothing else bounds it, to test the small
steps).
"""

import argparse
import ctypes
import hashlib
import json
import os
import re
import struct
import sys
import time
from concurrent.futures import ThreadPoolExecutor

VERSION = 1
DOMAIN = "aethir:capacity:v1"
MIN_N, MAX_N, N_MULTIPLE = 64, 32768, 64
M32 = 0xFFFFFFFF
GEN_CHUNK = 1 << 22  # elements of int64 temporaries per generation step
HEX64 = re.compile(r"^[0-9a-f]{64}$")
ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MiB = 1 << 20


def emit(msg):
    sys.stdout.write(json.dumps(msg, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def die(message, code="unsupported", status=2):
    emit({"type": "error", "message": message, "code": code})
    sys.exit(status)


def log(message):
    sys.stderr.write(f"gpu prover: {message}\n")
    sys.stderr.flush()


# --------------------------------------------------------------------------------------------------
# The arithmetic, bit-exact with challenge.ts
# --------------------------------------------------------------------------------------------------


def matrix_keys(seed_hex):
    h = hashlib.sha256((DOMAIN + ":keys\n").encode() + bytes.fromhex(seed_hex)).digest()
    w = struct.unpack("<8I", h)
    return (w[0], w[1]), (w[2], w[3])


def challenge_prefix(ch):
    return hashlib.sha256(f"{DOMAIN}\n{ch['id']}\n{ch['seed']}\n{ch['n']}".encode()).digest()


def mul32(x, c):
    """(x * c) mod 2^32 for int64 tensors holding values in [0, 2^32): no product passes 2^48."""
    return (x * (c & 0xFFFF) + (((x * (c >> 16)) & 0xFFFF) << 16)) & M32


def mix(x):
    """lowbias32 on int64 tensors holding uint32 values (Math.imul and >>> in challenge.ts)."""
    x = x ^ (x >> 16)
    x = mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def hash32(key, e):
    """mixCounter() of challenge.ts on an int64 tensor of counters < 2^32: 32 bits, as int64."""
    x = mix(e ^ key[0])
    return mix((x + key[1]) & M32)


def gen_rect(torch, key, rows, cols, device):
    """The rows x cols int8 matrix whose entry (r, c) is generator counter r * cols + c (challenge.ts
    generateRow(key, cols, r, ...)), generated in chunks of rows."""
    out = torch.empty((rows, cols), dtype=torch.int8, device=device)
    step = max(1, GEN_CHUNK // cols)
    for r0 in range(0, rows, step):
        r1 = min(rows, r0 + step)
        e = torch.arange(r0 * cols, r1 * cols, dtype=torch.int64, device=device)
        out[r0:r1] = ((hash32(key, e) >> 24) - 128).to(torch.int8).view(r1 - r0, cols)
    return out


def gen_matrix(torch, key, n, device):
    """The n x n int8 matrix of challenge.ts generateRow()."""
    return gen_rect(torch, key, n, n, device)


# --------------------------------------------------------------------------------------------------
# The memory proof (memory.ts): tiles W_t = A_t . B_t filling the device, reads summed per group
# --------------------------------------------------------------------------------------------------

MEMORY_DOMAIN = DOMAIN + ":memory"
SUMS_PER_LEAF = 256
READ_CHUNK = 1 << 17  # groups per step of the read at most (679 MiB of indices and temporaries at 256 per group)


def read_step(per, room):
    """Groups per step of the read: READ_CHUNK, or fewer so that a step's temporaries (per entry an
    int64 index, the int32 read and its int64 copy; per group its positions) take at most half of
    `room` (None: unbounded)."""
    if room is None:
        return READ_CHUNK
    return max(1, min(READ_CHUNK, room // 2 // (20 * per + 64)))


def fill_rows(side, depth, chunked, room):
    """Rows of a tile per product: all of them, or half as many (down to 64) until a block's
    product (int32; on the float32 fallback also its float32 partial and int32 copy, and a float32
    chunk of A) takes at most half of `room` (None: unbounded)."""
    per_row = 12 * side + 4 * min(depth, 1024) if chunked else 4 * side
    rows = side
    while room is not None and rows // 2 >= 64 and rows * per_row > room // 2:
        rows //= 2
    return rows


def memory_keys(label, seed_hex, extra=None):
    data = (MEMORY_DOMAIN + ":" + label + "\n").encode() + bytes.fromhex(seed_hex)
    if extra is not None:
        data += struct.pack("<I", extra)
    return struct.unpack("<8I", hashlib.sha256(data).digest())


def tile_keys(seed_hex, t):
    w = memory_keys("tile", seed_hex, t)
    return (w[0], w[1]), (w[2], w[3])


def read_keys(seed_hex):
    w = memory_keys("read", seed_hex)
    return (w[0], w[1])


# --------------------------------------------------------------------------------------------------
# The throughput proof (work.ts): products of a pool, permuted by a seed learned when the clock starts
# --------------------------------------------------------------------------------------------------

WORK_DOMAIN = DOMAIN + ":work"
ROWS_PER_LEAF = 64
DIGEST_WIDTH = 8


def work_keys(label, seed_hex, extra=None):
    data = (WORK_DOMAIN + ":" + label + "\n").encode() + bytes.fromhex(seed_hex)
    if extra is not None:
        data += struct.pack("<I", extra)
    return struct.unpack("<8I", hashlib.sha256(data).digest())


def pool_key(seed_hex, p):
    w = work_keys("pool", seed_hex, p)
    return (w[0], w[1])


def product_of(seed_hex, n, pool, r):
    w = work_keys("product", seed_hex, r)
    return w[0] % pool, w[1] % pool, 2 * (w[2] % (n // 2)) + 1, w[3] % n


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def valid_prepare(m):
    n, pool = m.get("n"), m.get("pool")
    return is_int(n) and is_int(pool) and 64 <= n <= 32768 and n % 64 == 0 and 1 <= pool <= 64 and HEX64.match(str(m.get("seed")))


def valid_work(m, n):
    r = m.get("products")
    return is_int(r) and 1 <= r <= (1 << 20) and r * n <= (1 << 31) and HEX64.match(str(m.get("seed")))


def valid_fill(m):
    t, side, depth = m.get("tiles"), m.get("m"), m.get("depth")
    return (
        all(isinstance(v, int) and not isinstance(v, bool) for v in (t, side, depth))
        and 1 <= t <= (1 << 20)
        and 64 <= side <= 32768
        and side % 64 == 0
        and 64 <= depth <= 65536
        and depth % 64 == 0
        and side * depth <= (1 << 32)
        and isinstance(m.get("seed"), str)
        and HEX64.match(m["seed"])
    )


def valid_read(m, side):
    g, per = m.get("groups"), m.get("perGroup")
    return (
        all(isinstance(v, int) and not isinstance(v, bool) for v in (g, per))
        and g >= 1
        and 1 <= per <= min(1024, side // 2)
        and g <= (1 << 30)
        and isinstance(m.get("seed"), str)
        and HEX64.match(m["seed"])
    )


def mm_int8(torch, a, b):
    return torch._int_mm(a, b)


def mm_f32_chunked(torch, a, b, chunk=1024):
    """Exact: |a.b| <= 2^14, so a partial sum over <= 1024 terms stays within 2^24 (float32 holds
    every integer up to 2^24; the integer inputs are exact in TF32 too)."""
    n = a.shape[1]
    out = torch.zeros((a.shape[0], b.shape[1]), dtype=torch.int32, device=a.device)
    for l0 in range(0, n, chunk):
        part = torch.matmul(a[:, l0 : l0 + chunk].to(torch.float32), b[l0 : l0 + chunk].to(torch.float32))
        out += part.to(torch.int32)
    return out


METHODS = [
    ("int8 tensor cores (torch._int_mm)", mm_int8),
    ("float32 matmuls over chunks of 1024 (exact)", mm_f32_chunked),
]


METHOD_NAMES = {"int8": METHODS[0], "float32": METHODS[1]}


def pick_method(torch, device, only=None):
    """The first exact method on this device (or the one named by --method): checked against an
    int64 product on the CPU."""
    (ka, kb) = matrix_keys("0" * 64)
    a = gen_matrix(torch, ka, 64, device)
    b = gen_matrix(torch, kb, 64, device)
    ref = a.cpu().to(torch.int64) @ b.cpu().to(torch.int64)
    for name, fn in [METHOD_NAMES[only]] if only else METHODS:
        try:
            c = fn(torch, a, b)
            if c.dtype == torch.int32 and bool((c.cpu().to(torch.int64) == ref).all()):
                return name, fn
            log(f"{name}: wrong result, not used")
        except Exception as e:  # noqa: BLE001 - any failure means: try the next method
            log(f"{name}: unavailable ({e})")
    die("gpu prover: no exact matrix product on this device", "unsupported")


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_levels(leaves):
    levels = [leaves]
    while len(levels[-1]) > 1:
        cur = levels[-1]
        levels.append([node_hash(cur[i], cur[i + 1]) if i + 1 < len(cur) else cur[i] for i in range(0, len(cur), 2)])
    return levels


def merkle_proof(levels, index):
    proof, i = [], index
    for level in levels[:-1]:
        sib = i ^ 1
        if sib < len(level):
            proof.append({"hash": level[sib].hex(), "side": "right" if i % 2 == 0 else "left"})
        i >>= 1
    return proof


def hash_rows(torch, c, prefix, pool):
    """Leaves of C's rows: sha256(0x00 || prefix || u32le(i) || row as int32 LE), on host threads
    (hashlib releases the GIL on large buffers), copying C from the device a slab at a time."""
    n = c.shape[0]
    row_bytes = 4 * n
    slab = max(1, (64 * MiB) // row_bytes)
    leaves = [None] * n
    for r0 in range(0, n, slab):
        r1 = min(n, r0 + slab)
        host = c[r0:r1].contiguous().cpu()
        raw = ctypes.string_at(host.data_ptr(), (r1 - r0) * row_bytes)
        view = memoryview(raw)

        def leaf(i, view=view, r0=r0):
            h = hashlib.sha256(b"\x00" + prefix + struct.pack("<I", i))
            h.update(view[(i - r0) * row_bytes : (i - r0 + 1) * row_bytes])
            return h.digest()

        for i, d in zip(range(r0, r1), pool.map(leaf, range(r0, r1))):
            leaves[i] = d
    return leaves


# --------------------------------------------------------------------------------------------------
# The session
# --------------------------------------------------------------------------------------------------


def valid_challenge(m):
    n = m.get("n")
    mem = m.get("memoryMiB")
    return (
        m.get("version") == VERSION
        and isinstance(m.get("id"), str)
        and ID_RE.match(m["id"])
        and isinstance(m.get("seed"), str)
        and HEX64.match(m["seed"])
        and isinstance(n, int)
        and MIN_N <= n <= MAX_N
        and n % N_MULTIPLE == 0
        and isinstance(m.get("deadlineMs"), (int, float))
        and m["deadlineMs"] > 0
        and (mem is None or (isinstance(mem, int) and mem > 0))
    )


class Session:
    def __init__(self, torch, device, method, pool, working_mib=None):
        self.torch, self.device, self.method, self.pool = torch, device, method, pool
        self.working_mib = working_mib  # --working-mib: the most the fill's and read's temporaries may take
        self.ch = None
        self.c = None
        self.levels = None
        self.mem = None  # the memory proof's tiles, one int32 tensor
        self.fill_msg = None
        self.read_levels = None
        self.read_sums = None
        self.work_pool = None  # the throughput proof's pool matrices
        self.digest_mm = method  # q . K (n x 8): the exact product, or the float32 chunks where it refuses the shape
        self.prepare_msg = None
        self.work_levels = None
        self.work_digests = None  # bytes: products * n rows of 8 int32 LE

    def room(self):
        """Bytes free for temporaries now: on CUDA, the device's free memory and what PyTorch's cache
        holds unused; at most --working-mib; None where nothing bounds it (a CPU without the cap)."""
        t = self.torch
        free = None
        if self.device.type == "cuda":
            cached = t.cuda.memory_reserved(self.device) - t.cuda.memory_allocated(self.device)
            free = t.cuda.mem_get_info(self.device)[0] + cached
        if self.working_mib is not None:
            free = self.working_mib * MiB if free is None else min(free, self.working_mib * MiB)
        return free

    def device_bytes(self):
        t = self.torch
        if self.device.type == "cuda":
            return t.cuda.get_device_properties(self.device).total_memory
        return None

    def challenge(self, m):
        t = self.torch
        if self.ch is not None:
            die("one challenge per session", "protocol", 1)
        if not valid_challenge(m):
            die("challenge: malformed or unsupported version", "protocol", 1)
        self.ch = m
        started = time.perf_counter()
        n = m["n"]
        want = m.get("memoryMiB")
        ballast = None
        # A and B (int8), C (int32); the float32 fallback adds a partial product and its int32 copy
        # (8n^2) and two float32 chunks (margins.ts computeFootprintBytes): the ballast is the rest
        working = 6 * n * n if self.method is not mm_f32_chunked else 14 * n * n + 8 * 1024 * n
        if self.device.type == "cuda":
            t.cuda.reset_peak_memory_stats(self.device)
        if want is not None:
            total = self.device_bytes()
            if total is not None and want * MiB > total:
                die(
                    f"gpu prover: cannot hold {want} MiB at once: {self.device_name()} has {total // MiB} MiB",
                    "memory",
                    3,
                )
            extra = want * MiB - working
            if extra > 0:
                try:
                    ballast = t.empty(extra, dtype=t.uint8, device=self.device)
                    ballast.fill_(int(m["seed"][:2], 16))
                except (RuntimeError, MemoryError) as e:  # torch.cuda.OutOfMemoryError is a RuntimeError
                    die(f"gpu prover: cannot hold {want} MiB at once on {self.device_name()}: {e}", "memory", 3)
        ka, kb = matrix_keys(m["seed"])
        a = gen_matrix(t, ka, n, self.device)
        b = gen_matrix(t, kb, n, self.device)
        self.c = self.method(t, a, b)
        del a, b
        if self.device.type == "cuda":
            t.cuda.synchronize(self.device)
            held = t.cuda.max_memory_allocated(self.device) // MiB
        else:
            held = ((ballast.numel() if ballast is not None else 0) + working) // MiB
        del ballast
        leaves = hash_rows(t, self.c, challenge_prefix(m), self.pool)
        self.levels = merkle_levels(leaves)
        out = {
            "type": "commitment",
            "id": m["id"],
            "root": self.levels[-1][0].hex(),
            "elapsedMs": round((time.perf_counter() - started) * 1000, 3),
        }
        if want is not None:
            out["memoryMiB"] = int(held)
        emit(out)

    def product(self, a, b, mult, add, k):
        """The digests q(X_a . Y) . K of one product (n x 8 int32), Y's row j = X_b's row (mult*j + add) mod n."""
        t = self.torch
        n = self.prepare_msg["n"]
        perm = (t.arange(n, dtype=t.int64, device=self.device) * mult + add) % n
        c = self.method(t, self.work_pool[a], self.work_pool[b][perm])
        q = c.to(t.int8)  # the low byte, wrapped: work.ts wrap8
        del c
        return self.digest_mm(t, q, k)

    def prepare(self, m):
        t = self.torch
        if self.ch is None or m.get("id") != self.ch["id"] or self.prepare_msg is not None or self.mem is not None:
            die("prepare: once, after a challenge and before the fill, with its id", "protocol", 1)
        if not valid_prepare(m):
            die("prepare: malformed parameters", "protocol", 1)
        started = time.perf_counter()
        # the compute proof is answered: its C is not needed any more
        self.c = None
        n, pool = m["n"], m["pool"]
        try:
            self.work_pool = [gen_matrix(t, pool_key(m["seed"], p), n, self.device) for p in range(pool)]
            self.prepare_msg = m
            # first kernels (cuBLAS heuristics, the allocator's growth) before the clock starts
            k = gen_rect(t, (1, 2), n, DIGEST_WIDTH, self.device)
            try:
                self.product(0, 0, 1, 0, k)
            except RuntimeError as e:
                if "out of memory" in str(e).lower() or self.digest_mm is mm_f32_chunked:
                    raise
                log(f"the digest product (n x {DIGEST_WIDTH}) is refused by the int8 method ({e}): float32 chunks for it")
                self.digest_mm = mm_f32_chunked
                self.product(0, 0, 1, 0, k)
        except (RuntimeError, MemoryError) as e:
            if "out of memory" in str(e).lower():
                die(f"gpu prover: cannot hold the pool of {pool} matrices of n = {n} on {self.device_name()}: {e}", "memory", 3)
            raise
        if self.device.type == "cuda":
            t.cuda.synchronize(self.device)
        emit({"type": "prepared", "id": m["id"], "elapsedMs": round((time.perf_counter() - started) * 1000, 3)})

    def work(self, m):
        t = self.torch
        if self.prepare_msg is None or m.get("id") != self.ch["id"] or self.work_levels is not None:
            die("work: once, after a prepare, with its id", "protocol", 1)
        p = self.prepare_msg
        n, pool = p["n"], p["pool"]
        if not valid_work(m, n):
            die("work: malformed parameters", "protocol", 1)
        products = m["products"]
        w = work_keys("digest", m["seed"])
        k = gen_rect(t, (w[0], w[1]), n, DIGEST_WIDTH, self.device)
        prefix = hashlib.sha256(f"{WORK_DOMAIN}\n{self.ch['id']}\n{p['seed']}\n{m['seed']}\n{n}\n{pool}\n{products}".encode()).digest()
        leaf_bytes = 4 * DIGEST_WIDTH * ROWS_PER_LEAF
        per_product = n // ROWS_PER_LEAF

        def leaves_of(r, raw):
            return [
                hashlib.sha256(b"\x00" + prefix + struct.pack("<I", r * per_product + f) + raw[f * leaf_bytes : (f + 1) * leaf_bytes]).digest()
                for f in range(per_product)
            ]

        jobs, raws = [], []
        cuda = self.device.type == "cuda"

        def collect(r, host, done):
            # product r's digests are on the host once its copy is done: hashed on host threads
            # while the device goes on with the next product
            if done is not None:
                done.synchronize()
            raw = ctypes.string_at(host.data_ptr(), 4 * host.numel())
            raws.append(raw)
            jobs.append(self.pool.submit(leaves_of, r, raw))

        pending = None
        for r in range(products):
            d = self.product(*product_of(m["seed"], n, pool, r), k)
            if cuda:
                host = t.empty(d.shape, dtype=d.dtype, pin_memory=True)
                host.copy_(d, non_blocking=True)
                done = t.cuda.Event()
                done.record()
            else:
                host, done = d.contiguous(), None
            if pending is not None:
                collect(*pending)
            pending = (r, host, done)
        collect(*pending)
        leaves = [h for j in jobs for h in j.result()]
        self.work_levels = merkle_levels(leaves)
        self.work_digests = b"".join(raws)
        emit({"type": "work-root", "id": self.ch["id"], "root": self.work_levels[-1][0].hex()})

    def open_work(self, m):
        idx = m.get("indices")
        count = len(self.work_levels[0])
        if m.get("id") != self.ch["id"] or not isinstance(idx, list) or not all(is_int(i) and 0 <= i < count for i in idx):
            die("open: wrong challenge id, or leaves not in [0, leaves)", "protocol", 1)
        per = DIGEST_WIDTH * ROWS_PER_LEAF
        emit(
            {
                "type": "rows",
                "rows": [
                    {
                        "index": i,
                        "row": list(struct.unpack(f"<{per}i", self.work_digests[4 * per * i : 4 * per * (i + 1)])),
                        "proof": merkle_proof(self.work_levels, i),
                    }
                    for i in idx
                ],
            }
        )

    def fill(self, m):
        t = self.torch
        if self.ch is None or m.get("id") != self.ch["id"] or self.mem is not None:
            die("fill: once, after a challenge, with its id", "protocol", 1)
        if not valid_fill(m):
            die("fill: malformed parameters", "protocol", 1)
        started = time.perf_counter()
        tiles, side, depth = m["tiles"], m["m"], m["depth"]
        # the compute proof is answered: its C, the ballast and the throughput proof's pool are not needed any more
        self.c = None
        self.work_pool = None
        if self.device.type == "cuda":
            t.cuda.empty_cache()
        try:
            mem = t.empty(tiles * side * side, dtype=t.int32, device=self.device)
        except (RuntimeError, MemoryError) as e:
            die(f"gpu prover: cannot hold {tiles} tiles ({tiles * side * side * 4 // MiB} MiB) on {self.device_name()}: {e}", "memory", 3)
        rows = None
        for i in range(tiles):
            ka, kb = tile_keys(m["seed"], i)
            a = gen_rect(t, ka, side, depth, self.device)
            b = gen_rect(t, kb, depth, side, self.device)
            if rows is None:
                rows = fill_rows(side, depth, self.method is mm_f32_chunked, self.room())
                if rows < side:
                    log(f"fill: each tile's product in blocks of {rows} of its {side} rows (little memory free)")
            base = i * side * side
            for r0 in range(0, side, rows):
                r1 = min(side, r0 + rows)
                mem[base + r0 * side : base + r1 * side] = self.method(t, a[r0:r1], b).view(-1)
            del a, b
        if self.device.type == "cuda":
            t.cuda.synchronize(self.device)
        self.mem, self.fill_msg = mem, m
        emit({"type": "filled", "id": m["id"], "elapsedMs": round((time.perf_counter() - started) * 1000, 3)})

    def read(self, m):
        t = self.torch
        if self.mem is None or m.get("id") != self.ch["id"] or self.read_levels is not None:
            die("read: once, after a fill, with its id", "protocol", 1)
        if not valid_read(m, self.fill_msg["m"]):
            die("read: malformed parameters", "protocol", 1)
        f = self.fill_msg
        tiles, side = f["tiles"], f["m"]
        groups, per = m["groups"], m["perGroup"]
        key = read_keys(m["seed"])
        step = read_step(per, self.room())
        if step < min(groups, READ_CHUNK):
            log(f"read: {step} groups per step (little memory free)")
        out = []
        for g0 in range(0, groups, step):
            g1 = min(groups, g0 + step)
            e = t.arange(4 * g0, 4 * g1, dtype=t.int64, device=self.device)
            h = hash32(key, e).view(g1 - g0, 4)
            base = (h[:, 0] % tiles) * (side * side) + (h[:, 1] % side) * side
            start = h[:, 2] % side
            stride = 2 * (h[:, 3] % (side // 2 - 4)) + 9
            k = t.arange(per, dtype=t.int64, device=self.device)
            idx = base.unsqueeze(1) + (start.unsqueeze(1) + k.unsqueeze(0) * stride.unsqueeze(1)) % side
            out.append(self.mem[idx].to(t.int64).sum(1))
        sums = t.cat(out).cpu().contiguous()
        raw = ctypes.string_at(sums.data_ptr(), 8 * sums.numel())
        prefix = hashlib.sha256(
            f"{MEMORY_DOMAIN}\n{self.ch['id']}\n{f['seed']}\n{m['seed']}\n{tiles}\n{side}\n{f['depth']}\n{groups}\n{per}".encode()
        ).digest()
        leaves = []
        for leaf in range(0, (groups + SUMS_PER_LEAF - 1) // SUMS_PER_LEAF):
            lo, hi = leaf * SUMS_PER_LEAF, min(groups, (leaf + 1) * SUMS_PER_LEAF)
            leaves.append(hashlib.sha256(b"\x00" + prefix + struct.pack("<I", leaf) + raw[8 * lo : 8 * hi]).digest())
        self.read_levels = merkle_levels(leaves)
        self.read_sums = sums  # turned into lists only for the leaves opened: after the timed answer
        emit({"type": "read-root", "id": self.ch["id"], "root": self.read_levels[-1][0].hex()})

    def open_sums(self, m):
        idx = m.get("indices")
        count = len(self.read_levels[0])
        if m.get("id") != self.ch["id"] or not isinstance(idx, list) or not all(isinstance(i, int) and 0 <= i < count for i in idx):
            die("open: wrong challenge id, or leaves not in [0, leaves)", "protocol", 1)
        emit(
            {
                "type": "rows",
                "rows": [
                    {
                        "index": i,
                        "row": self.read_sums[i * SUMS_PER_LEAF : (i + 1) * SUMS_PER_LEAF].tolist(),
                        "proof": merkle_proof(self.read_levels, i),
                    }
                    for i in idx
                ],
            }
        )

    def open(self, m):
        t = self.torch
        if self.ch is None:
            die("open before a challenge", "protocol", 1)
        if self.read_levels is not None:
            return self.open_sums(m)
        if self.work_levels is not None and self.mem is None:
            return self.open_work(m)
        if self.c is None:
            die("open: the rows are gone once the fill began", "protocol", 1)
        n = self.ch["n"]
        idx = m.get("indices")
        if (
            m.get("id") != self.ch["id"]
            or not isinstance(idx, list)
            or len(idx) > n
            or not all(isinstance(i, int) and 0 <= i < n for i in idx)
        ):
            die("open: wrong challenge id, or indices not in [0, n)", "protocol", 1)
        rows = self.c[t.tensor(idx, dtype=t.int64, device=self.device)].cpu().tolist() if idx else []
        emit(
            {
                "type": "rows",
                "rows": [{"index": i, "row": r, "proof": merkle_proof(self.levels, i)} for i, r in zip(idx, rows)],
            }
        )

    def device_name(self):
        if self.device.type == "cuda":
            return self.torch.cuda.get_device_name(self.device)
        return "cpu"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda", help="cuda (default), cuda:N, or cpu (testing only)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="host threads hashing rows")
    ap.add_argument(
        "--method",
        choices=sorted(METHOD_NAMES),
        help="the product to use: int8 (torch._int_mm) or float32 (the exact fallback of parts without "
        "INT8 tensor cores); default: the first that is exact on this device",
    )
    ap.add_argument(
        "--working-mib",
        type=int,
        help="the most memory the memory proof's fill and read may take beside the tiles, in MiB "
        "(default: what the device has free)",
    )
    args = ap.parse_args()
    if args.working_mib is not None and args.working_mib < 1:
        ap.error("--working-mib must be at least 1")

    if sys.byteorder != "little":
        die("gpu prover: rows are hashed as little-endian int32; this host is big-endian")
    try:
        import torch
    except Exception as e:  # noqa: BLE001 - ImportError, or a broken install
        die(
            f"gpu prover: PyTorch is not available (import torch failed: {e}); install PyTorch with CUDA "
            "support to prove a GPU, or check this host with the CPU prover"
        )
    if args.device.startswith("cuda"):
        if not torch.cuda.is_available():
            die(
                f"gpu prover: PyTorch {torch.__version__} is installed but sees no CUDA device "
                f"(torch.cuda.is_available() is False; CUDA build: {torch.version.cuda or 'none'})"
            )
        torch.backends.cuda.matmul.allow_tf32 = False
    elif args.device != "cpu":
        die(f"gpu prover: unknown device {args.device!r}", "protocol")
    device = torch.device(args.device)

    name, method = pick_method(torch, device, args.method)
    pool = ThreadPoolExecutor(max_workers=max(1, args.threads))
    session = Session(torch, device, method, pool, args.working_mib)
    emit({"type": "ready", "version": VERSION, "prover": "gpu", "device": session.device_name(), "method": name})

    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            m = json.loads(line)
            kind = m.get("type") if isinstance(m, dict) else None
        except ValueError:
            kind = None
        try:
            if kind == "challenge":
                session.challenge(m)
            elif kind == "open":
                session.open(m)
            elif kind == "prepare":
                session.prepare(m)
            elif kind == "work":
                session.work(m)
            elif kind == "fill":
                session.fill(m)
            elif kind == "read":
                session.read(m)
            elif kind == "error":
                sys.exit(1)
            else:
                die(f"not a protocol message: {line[:80]}", "protocol", 1)
        except SystemExit:
            raise
        except Exception as e:  # noqa: BLE001 - report, never hang
            if "out of memory" in str(e).lower():
                die(f"gpu prover: out of memory on {session.device_name()}: {e}", "memory", 3)
            die(f"gpu prover: {type(e).__name__}: {e}", "internal", 1)
    pool.shutdown(wait=False)


if __name__ == "__main__":
    main()
