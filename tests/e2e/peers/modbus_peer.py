#!/usr/bin/python3
"""A foreign Modbus TCP device for airlock's end-to-end tests: a pymodbus
server whose register contents are encoded here, with Python's struct, from
engineering values, independently of airlock's own codec.

Usage: modbus_peer.py --port N --spec FILE.json [--host 127.0.0.1]

The spec (JSON):
  {
    "units": [1, 2],          unit ids served (default [1]); others get no answer
    "size": 1000,             each area holds addresses 0..size-1 (0-based protocol
                              addresses); a request beyond gets IllegalDataAddress
    "points": [               values to encode (see encode_point)
      {"unit": 1, "area": "holding", "address": 0, "type": "int16", "value": -1234},
      {"unit": 1, "area": "holding", "address": 2, "type": "float32", "order": "CDAB",
       "value": 3.5},
      {"unit": 1, "area": "coil", "address": 3, "value": true},
      {"unit": 1, "area": "input", "address": 9, "type": "string", "length": 5,
       "value": "AIRLOCK-7"},
      {"unit": 1, "area": "holding", "address": 20, "registers": [1, 2, 3]}
    ],
    "counters": [             registers incremented (mod 65536) every period_ms
      {"unit": 1, "area": "holding", "address": 100, "period_ms": 100}
    ]
  }

Byte orders are given as the letters of the value's big-endian bytes in the
order they travel on the wire, A the most significant: ABCD, CDAB, BADC, DCBA
for 32-bit values, ABCDEFGH, GHEFCDAB, BADCFEHG, HGFEDCBA (or any permutation)
for 64-bit ones. Registers carry their two bytes high byte first.
"""

import argparse
import asyncio
import json
import logging
import struct
import sys

from pymodbus.datastore import (
    ModbusSequentialDataBlock,
    ModbusServerContext,
    ModbusSlaveContext,
)
from pymodbus.server import StartAsyncTcpServer

STRUCT_FORMATS = {
    "int16": ">h",
    "uint16": ">H",
    "int32": ">i",
    "uint32": ">I",
    "float32": ">f",
    "int64": ">q",
    "uint64": ">Q",
    "float64": ">d",
}
DEFAULT_ORDER = {4: "ABCD", 8: "ABCDEFGH", 2: "AB"}
STORE_KEYS = {"holding": "h", "input": "i", "coil": "c", "discrete_input": "d"}


def reorder(big_endian, order):
    """The bytes in wire order given the order's letters (A = byte 0 of the
    big-endian encoding)."""
    order = order.upper()
    if len(order) != len(big_endian) or sorted(order) != [chr(65 + i) for i in range(len(order))]:
        raise ValueError(f"order {order} does not fit a {len(big_endian)}-byte value")
    return bytes(big_endian[ord(c) - 65] for c in order)


def expand_order(order, size):
    """Accepts the 32-bit names for 64-bit values too (ABCD -> ABCDEFGH,
    CDAB -> GHEFCDAB, BADC -> BADCFEHG, DCBA -> HGFEDCBA)."""
    if order is None:
        return DEFAULT_ORDER[size]
    if size == 8 and len(order) == 4:
        return {"ABCD": "ABCDEFGH", "CDAB": "GHEFCDAB", "BADC": "BADCFEHG", "DCBA": "HGFEDCBA"}[
            order.upper()
        ]
    return order


def registers_of(data):
    return [(data[i] << 8) | data[i + 1] for i in range(0, len(data), 2)]


def encode_point(p):
    """The 16-bit registers (register areas) or bits (bit areas) of a point."""
    if "registers" in p:
        return [int(r) & 0xFFFF for r in p["registers"]]
    area = p["area"]
    if area in ("coil", "discrete_input"):
        return [bool(p["value"])]
    t = p.get("type", "uint16")
    if t == "string":
        raw = p["value"].encode("utf-8")
        n = 2 * int(p["length"])
        if len(raw) > n:
            raise ValueError("string longer than its registers")
        return registers_of(raw + b"\0" * (n - len(raw)))
    if t == "bool":  # a whole register holding 0/1
        return [1 if p["value"] else 0]
    fmt = STRUCT_FORMATS[t]
    value = p["value"]
    if t.startswith("float"):
        value = float(value)
    else:
        value = int(value)
    be = struct.pack(fmt, value)
    return registers_of(reorder(be, expand_order(p.get("order"), len(be))))


def build_context(spec):
    size = int(spec.get("size", 1000))
    units = spec.get("units", [1])
    slaves = {}
    for u in units:
        slaves[int(u)] = ModbusSlaveContext(
            hr=ModbusSequentialDataBlock(0, [0] * size),
            ir=ModbusSequentialDataBlock(0, [0] * size),
            co=ModbusSequentialDataBlock(0, [False] * size),
            di=ModbusSequentialDataBlock(0, [False] * size),
            zero_mode=True,
        )
    for p in spec.get("points", []):
        ctx = slaves[int(p.get("unit", units[0]))]
        values = encode_point(p)
        block = ctx.store[STORE_KEYS[p["area"]]]
        block.setValues(int(p["address"]), values)
    return ModbusServerContext(slaves=slaves, single=False), slaves


async def run_counter(slaves, c):
    ctx = slaves[int(c.get("unit", 1))]
    area = c.get("area", "holding")
    block = ctx.store[STORE_KEYS[area]]
    addr = int(c["address"])
    period_s = float(c.get("period_ms", 100)) / 1000.0
    while True:
        await asyncio.sleep(period_s)
        v = block.getValues(addr, 1)[0]
        block.setValues(addr, [(v + 1) & 0xFFFF])


async def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--spec", required=True)
    args = ap.parse_args()
    with open(args.spec) as f:
        spec = json.load(f)
    context, slaves = build_context(spec)
    server = await StartAsyncTcpServer(
        context=context,
        address=(args.host, args.port),
        allow_reuse_address=True,
        defer_start=True,
    )
    tasks = [asyncio.create_task(run_counter(slaves, c)) for c in spec.get("counters", [])]
    print(f"READY {args.port}", flush=True)
    await server.serve_forever()
    for t in tasks:
        t.cancel()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
