#!/usr/bin/env python3
"""NIP-46 request latency on the wire, from a packet capture of a relay's loopback traffic.

    wire_latency.py CAPTURE.pcap RELAY_PORT OUT.csv

CAPTURE holds the TCP traffic between one load generator and the relay (for example
`tcpdump -i lo -s 0 --time-stamp-precision=nano -w CAPTURE 'tcp and host 127.0.0.2 and port P'`
with the generator connecting from 127.0.0.2). Each direction of each connection is reassembled,
cut into websocket frames (RFC 6455 §5.2; client frames unmasked), and the i-th client `EVENT` of
a connection is paired with its i-th relay `EVENT`: bunkerd answers one connection's requests in
order when it runs one signer worker (`--workers 1`, as in fairness.sh); with more workers
responses can overtake each other and this pairing would be wrong. A frame's instant is that of the packet carrying its last byte. Writes
`sent_unix_ms,latency_ms` per request to OUT, and prints the count.

Latency measured here is what the relay's host saw on its loopback interface: from the request's
last byte reaching the relay's socket to the response's last byte leaving it. It leaves out both
generators' own scheduling (which share a core in benches/scripts/fairness.sh), and keeps everything
bunkerd does, its socket reads and writes included. Exits 1 when a connection's requests and
responses do not pair up (a refusal, or a capture that lost packets).
"""
import struct
import sys


def packets(path):
    """(time in s, src, sport, dst, dport, seq, payload) for every IPv4 TCP packet with payload."""
    data = open(path, "rb").read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic == 0xA1B2C3D4:
        scale = 1e-6
    elif magic == 0xA1B23C4D:
        scale = 1e-9
    else:
        sys.exit(f"{path}: not a little-endian pcap file")
    linktype = struct.unpack("<I", data[20:24])[0]
    link_len = {1: 14, 113: 16, 0: 4}.get(linktype)
    if link_len is None:
        sys.exit(f"{path}: link type {linktype} not handled")
    at = 24
    while at + 16 <= len(data):
        sec, frac, caplen, _ = struct.unpack("<IIII", data[at:at + 16])
        frame = data[at + 16:at + 16 + caplen]
        at += 16 + caplen
        ip = frame[link_len:]
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 6:
            continue
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack(">H", ip[2:4])[0]
        tcp = ip[ihl:total]
        sport, dport, seq = struct.unpack(">HHI", tcp[:8])
        offset = (tcp[12] >> 4) * 4
        payload = tcp[offset:]
        if payload:
            yield sec + frac * scale, ip[12:16], sport, ip[16:20], dport, seq, payload


def frames(chunks):
    """Websocket frames of one direction, after its HTTP upgrade: (instant of the last byte, opcode,
    unmasked payload head)."""
    buf = bytearray()
    times = []  # (end offset in buf, instant) per chunk
    base = 0  # stream offset of buf[0]
    out = []
    http = True  # each direction starts with the HTTP upgrade (request or 101 response)
    for t, chunk in chunks:
        buf += chunk
        times.append((base + len(buf), t))
        if http:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                continue
            del buf[:end + 4]
            base += end + 4
            http = False
        while True:
            if len(buf) < 2:
                break
            masked, n = buf[1] & 0x80, buf[1] & 0x7F
            head = 2
            if n == 126:
                if len(buf) < 4:
                    break
                n, head = struct.unpack(">H", buf[2:4])[0], 4
            elif n == 127:
                if len(buf) < 10:
                    break
                n, head = struct.unpack(">Q", buf[2:10])[0], 10
            mask = b""
            if masked:
                mask, head = bytes(buf[head:head + 4]), head + 4
            if len(buf) < head + n:
                break
            body = bytes(buf[head:head + min(n, 16)])
            if masked:
                body = bytes(b ^ mask[i % 4] for i, b in enumerate(body))
            end = base + head + n
            t_end = next(t for e, t in times if e >= end)
            out.append((t_end, buf[0] & 0x0F, body))
            del buf[:head + n]
            base = end
        times = [(e, t) for e, t in times if e > base] or times[-1:]
    if http:
        raise ValueError("no HTTP upgrade in this direction (capture started mid-connection?)")
    return out


def main():
    path, port, out_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    flows = {}
    for t, src, sport, dst, dport, seq, payload in packets(path):
        key = (src, sport, dst, dport)
        state = flows.setdefault(key, {"next": None, "chunks": [], "gaps": 0})
        if state["next"] is not None:
            ahead = (seq - state["next"]) % 2**32
            if ahead >= 2**31:  # starts before what was taken: a duplicate or a retransmission
                overlap = 2**32 - ahead
                if overlap >= len(payload):
                    continue
                payload, seq = payload[overlap:], (seq + overlap) % 2**32
            elif ahead:
                state["gaps"] += 1  # bytes the capture missed
        state["chunks"].append((t, payload))
        state["next"] = (seq + len(payload)) % 2**32
    rows, unpaired = [], 0
    for (src, sport, dst, dport), state in flows.items():
        if dport != port:
            continue
        back = flows.get((dst, dport, src, sport))
        try:
            sent = frames(state["chunks"])
            answers = frames(back["chunks"]) if back else []
        except ValueError as e:
            unpaired += 1
            print(f"connection {sport}: {e}", file=sys.stderr)
            continue
        requests = [t for t, op, body in sent if op == 1 and body.startswith(b'["EVENT"')]
        responses = [t for t, op, body in answers if op == 1 and body.startswith(b'["EVENT"')]
        if len(requests) != len(responses) or state["gaps"] or (back and back["gaps"]):
            unpaired += 1
            print(f"connection {sport}: {len(requests)} requests, {len(responses)} responses",
                  file=sys.stderr)
            continue
        rows += [(q * 1e3, (r - q) * 1e3) for q, r in zip(requests, responses)]
    rows.sort()
    with open(out_path, "w") as f:
        f.write("sent_unix_ms,latency_ms\n")
        for sent, latency in rows:
            f.write(f"{sent:.3f},{latency:.3f}\n")
    print(f"wire latency: {len(rows)} requests paired over "
          f"{sum(1 for k in flows if k[3] == port) - unpaired} connections, {unpaired} unpaired")
    sys.exit(1 if unpaired else 0)


if __name__ == "__main__":
    main()
