"""`python -m tests.emulators.kube --port PORT --kubeconfig FILE`: run the emulator until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from types import FrameType

from .emulator import KubeEmulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.emulators.kube", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--kubeconfig", help="write a kubeconfig for the emulator to this file")
    parser.add_argument("--context", default="emulator", help="context name in the kubeconfig")
    parser.add_argument("--namespace", default="default", help="default namespace in the kubeconfig")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")

    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with KubeEmulator(port=args.port) as kube:
        print(f"Kubernetes API emulator listening on {kube.url}", flush=True)
        if args.kubeconfig:
            path = kube.write_kubeconfig(args.kubeconfig, context=args.context, namespace=args.namespace)
            print(f"kubeconfig written to {path} (kubectl --kubeconfig {path} get pods)", flush=True)
        while not done.wait(0.2):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
