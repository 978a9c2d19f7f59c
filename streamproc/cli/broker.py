"""``streamproc broker``: the embedded development broker in the foreground."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from streamproc.devbroker import EmbeddedBroker


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "broker", help="run the embedded Kafka-protocol broker (Tansu, in-memory) in the foreground"
    )
    parser.add_argument("--host", default="127.0.0.1", metavar="ADDRESS",
                        help="address to listen on and advertise to clients (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9092, help="TCP port to listen on (default 9092)")
    parser.add_argument("--cert", type=Path, metavar="PEM", help="serve TLS only, with this certificate (chain)")
    parser.add_argument("--key", type=Path, metavar="PEM", help="the private key of --cert (unencrypted)")
    parser.add_argument("--client-ca", type=Path, metavar="PEM",
                        help="mutual TLS: require client certificates signed by this CA")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    broker = EmbeddedBroker(args.host, args.port, cert=args.cert, key=args.key, client_ca=args.client_ca)
    if broker.tls:
        return _serve_tls(broker, args.client_ca is not None)
    command = broker.command()
    print(f"embedded broker (Tansu, in-memory storage) on {broker.bootstrap_servers}; Ctrl-C stops it",
          file=sys.stderr, flush=True)
    os.execv(command[0], command)  # replace this process: signals go straight to the broker
    return 0  # pragma: no cover


def _serve_tls(broker: EmbeddedBroker, mutual: bool) -> int:
    """TLS needs this process (it runs the terminator), so the broker is a child until a signal stops both."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with broker:
        clients = "TLS with client certificates" if mutual else "TLS"
        print(f"embedded broker (Tansu, in-memory storage) on {broker.bootstrap_servers}, {clients} only "
              "(clients: -X security.protocol=SSL -X ssl.ca.location=CA.pem); Ctrl-C stops it",
              file=sys.stderr, flush=True)
        while not stop.wait(1.0):
            if not broker.alive:
                print("streamproc broker: error: the embedded broker exited", file=sys.stderr)
                return 1
    return 0
