#!/usr/bin/python3
"""A misbehaving Modbus TCP device for airlock's end-to-end tests, written on
plain sockets (no Modbus library): it reads each request frame and answers
wrongly on purpose.

Usage: raw_peer.py --port N --mode MODE [--host 127.0.0.1] [--seed N]

Modes:
  silent         accept connections, read requests, never answer
  wrong-tid      a correct answer with another transaction id
  wrong-length   a consistent frame with one register (or bit byte) less or more
                 than requested
  wrong-protocol a correct answer with protocol id 1 instead of 0
  wrong-function a well-framed answer with a different, non-exception function code
  wrong-unit     a correct answer from another unit id
  garbage        a well-framed answer (right transaction id and length field)
                 whose body is random bytes
  noise          random bytes with no framing at all
  mixed          wrong-tid, wrong-length, garbage and noise in turn (across
                 connections)
  valid          correct answers (registers hold their address), for checks
"""

import argparse
import os
import random
import socket
import struct
import sys
import threading

MODES = (
    "silent",
    "wrong-tid",
    "wrong-length",
    "wrong-protocol",
    "wrong-function",
    "wrong-unit",
    "garbage",
    "noise",
    "mixed",
    "valid",
)


def recv_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def read_request(conn):
    """(transaction id, protocol id, unit, pdu) of the next request."""
    head = recv_exact(conn, 7)
    tid, proto, length, unit = struct.unpack(">HHHB", head)
    if length < 2 or length > 260:
        raise EOFError("bad request length")
    pdu = recv_exact(conn, length - 1)
    return tid, proto, unit, pdu


def valid_pdu(pdu):
    """The correct answer's PDU for a read request (values = addresses)."""
    fc = pdu[0]
    start, count = struct.unpack(">HH", pdu[1:5])
    if fc in (3, 4):
        regs = b"".join(struct.pack(">H", (start + i) & 0xFFFF) for i in range(count))
        return bytes([fc, len(regs)]) + regs
    if fc in (1, 2):
        nbytes = (count + 7) // 8
        return bytes([fc, nbytes]) + bytes([0x55] * nbytes)
    return bytes([fc | 0x80, 1])  # IllegalFunction


def frame(tid, proto, unit, pdu):
    return struct.pack(">HHHB", tid, proto, len(pdu) + 1, unit) + pdu


def answer(mode, tid, proto, unit, pdu, rng):
    """Bytes to send for one request in `mode`, or None for no answer."""
    if mode == "silent":
        return None
    if mode == "valid":
        return frame(tid, proto, unit, valid_pdu(pdu))
    if mode == "wrong-tid":
        return frame((tid + 1) & 0xFFFF, proto, unit, valid_pdu(pdu))
    if mode == "wrong-protocol":
        return frame(tid, 1, unit, valid_pdu(pdu))
    if mode == "wrong-unit":
        return frame(tid, proto, (unit + 1) & 0xFF, valid_pdu(pdu))
    if mode == "wrong-length":
        # A consistent frame carrying one register (or byte of bits) less
        # than requested: the byte count disagrees with the request.
        good = valid_pdu(pdu)
        drop = 2 if good[0] in (3, 4) else 1
        if good[1] <= drop:  # a one-register request: send one more instead
            body = bytes([good[0], good[1] + drop]) + good[2:] + bytes(drop)
        else:
            body = bytes([good[0], good[1] - drop]) + good[2:-drop]
        return frame(tid, proto, unit, body)
    if mode == "wrong-function":
        good = valid_pdu(pdu)
        fc = good[0]
        other = 0x10 + ((fc + 7) % 0x60)
        if other == fc:
            other += 1
        return frame(tid, proto, unit, bytes([other]) + good[1:])
    if mode == "garbage":
        # A non-exception function code other than the request's, then noise.
        fc = pdu[0]
        bad_fc = rng.choice([c for c in range(0x05, 0x7F) if c != fc])
        body = bytes([bad_fc]) + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
        return frame(tid, proto, unit, body)
    if mode == "noise":
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
    raise ValueError(mode)


MIXED_CYCLE = ("wrong-tid", "wrong-length", "garbage", "noise")
_turn = [0]  # shared by every connection: the gateway reconnects after each bad frame
_turn_lock = threading.Lock()


def next_mixed_mode():
    with _turn_lock:
        m = MIXED_CYCLE[_turn[0] % len(MIXED_CYCLE)]
        _turn[0] += 1
    return m


def serve_connection(conn, mode, rng):
    try:
        while True:
            tid, proto, unit, pdu = read_request(conn)
            m = next_mixed_mode() if mode == "mixed" else mode
            out = answer(m, tid, proto, unit, pdu, rng)
            if out is not None:
                conn.sendall(out)
    except (EOFError, OSError):
        pass
    finally:
        conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--mode", choices=MODES, required=True)
    ap.add_argument("--seed", type=int, default=os.getpid())
    args = ap.parse_args()
    rng = random.Random(args.seed)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((args.host, args.port))
    srv.listen(16)
    print(f"READY {args.port}", flush=True)
    while True:
        conn, _ = srv.accept()
        conn_rng = random.Random(rng.random())
        threading.Thread(target=serve_connection, args=(conn, args.mode, conn_rng), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
