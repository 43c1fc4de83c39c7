"""A degraded WAN link in userspace: frames between two interfaces, delayed and dropped.

This kernel has no ``sch_netem`` (nor tc actions), so ``atoll testbed degrade`` puts this
relay in a site's WAN path instead: the site's veth host end is taken out of the WAN bridge
and a second veth pair joins it to the bridge; the relay copies every frame between the two
host ends through AF_PACKET sockets, holding each for ``latency`` and dropping a random
``loss`` share, in both directions. Offloads are turned off on the path so every frame fits
the MTU (no GSO super-frames through a packet socket).

Run as ``python -m atoll.testbed.bed.wanlink IF_A IF_B --latency 40ms --loss 0.5%``; it runs
until SIGTERM.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import random
import signal
import socket
import threading
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def parse_latency(text: str) -> float:
    """``40ms``, ``0.2s``, ``0`` -> seconds."""
    text = text.strip()
    if not text or text == "0":
        return 0.0
    for unit, scale in (("ms", 1e-3), ("us", 1e-6), ("s", 1.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * scale
    return float(text) * 1e-3  # a bare number is milliseconds, as tc netem reads it


def parse_loss(text: str) -> float:
    """``0.5%`` -> 0.005."""
    text = text.strip().rstrip("%")
    return float(text) / 100 if text else 0.0


def _open(ifname: str) -> socket.socket:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind((ifname, 0))
    return sock


class Direction:
    """Frames read on ``src`` go out on ``dst`` after ``latency``, unless dropped."""

    def __init__(self, src: socket.socket, dst: socket.socket, latency: float, loss: float,
                 stop: threading.Event) -> None:  # fmt: skip
        self.src, self.dst, self.latency, self.loss, self.stop = src, dst, latency, loss, stop
        self.queue: collections.deque[tuple[float, bytes]] = collections.deque()
        self.ready = threading.Condition()
        self.rng = random.Random()

    def read(self) -> None:
        while not self.stop.is_set():
            try:
                frame, addr = self.src.recvfrom(65535)
            except OSError:
                time.sleep(0.05)  # the link is down (a partition): wait for it
                continue
            if addr[2] == PACKET_OUTGOING or self.rng.random() < self.loss:
                continue
            if self.latency <= 0:
                self._send(frame)
                continue
            with self.ready:
                self.queue.append((time.monotonic() + self.latency, frame))
                self.ready.notify()

    def write(self) -> None:
        while not self.stop.is_set():
            with self.ready:
                while not self.queue and not self.stop.is_set():
                    self.ready.wait(0.5)
                if not self.queue:
                    continue
                due, frame = self.queue.popleft()
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            self._send(frame)

    def _send(self, frame: bytes) -> None:
        with contextlib.suppress(OSError):  # the other side is down: lost, as on a cut link
            self.dst.send(frame)


def relay(a: str, b: str, latency: float, loss: float, stop: threading.Event) -> None:
    sa, sb = _open(a), _open(b)
    for direction in (
        Direction(sa, sb, latency, loss, stop),
        Direction(sb, sa, latency, loss, stop),
    ):
        for target in (direction.read, direction.write):
            threading.Thread(target=target, daemon=True).start()
    stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--latency", default="0")
    parser.add_argument("--loss", default="0")
    parser.add_argument("--testbed", default="", help="the testbed's directory (to find us)")
    args = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    relay(args.a, args.b, parse_latency(args.latency), parse_loss(args.loss), stop)


if __name__ == "__main__":
    main()
