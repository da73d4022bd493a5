"""Docker trigger benchmark (issue 12): the cost of one poll of one repository against a real registry
(Debian's `docker-registry`) on loopback, for a repository with `--tags` tags and digest tracking on (a tag
list, paginated by 100, and one manifest HEAD per tag), so about `tags + tags/100` requests per poll.

    python bench/triggers.py [--json] [--tags 50] [--polls 30]

`poll_cost_ms_per_repo`: the median wall time of `DockerPoller.poll` for an unchanged repository.
`poll_cost_ms_per_tag`: the same divided by the number of tags. `poll_cost_ms_no_digests`: the median with
`trackDigests: false` (the tag list only).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the registry fixture lives under tests/

from tests.integration.triggers.registry import DockerRegistry, available

from gennaker.artifacts.fetchers.guard import OutboundPolicy, public_only_guard
from gennaker.triggers.docker.accounts import DockerRegistryAccount
from gennaker.triggers.docker.poller import DockerPoller
from gennaker.triggers.docker.registry_client import RegistryClient


def median_poll_ms(poller: DockerPoller, polls: int) -> float:
    _, state = poller.poll(None)
    timings = []
    for _ in range(polls):
        started = time.perf_counter()
        events, state = poller.poll(state)
        timings.append((time.perf_counter() - started) * 1000)
        assert events == [] and not poller.incidents.failing, poller.incidents.message
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--tags", type=int, default=50)
    parser.add_argument("--polls", type=int, default=30)
    args = parser.parse_args()
    if not available():
        sys.exit("docker-registry is not installed (make system-packages)")
    guard = public_only_guard(OutboundPolicy.from_config({"allowNetworks": ["127.0.0.0/8"]}))
    with tempfile.TemporaryDirectory() as tmp, DockerRegistry(Path(tmp)) as registry:
        for index in range(args.tags):
            registry.push("bench/app", f"1.{index}", f"layer {index}".encode())
        figures: dict[str, float] = {"tags": args.tags}
        for track, key in ((True, "poll_cost_ms_per_repo"), (False, "poll_cost_ms_no_digests")):
            account = DockerRegistryAccount(name="bench", address=registry.url, trackDigests=track)
            client = RegistryClient(account, guard)
            try:
                figures[key] = median_poll_ms(DockerPoller(account, "bench/app", client), args.polls)
            finally:
                client.close()
        figures["poll_cost_ms_per_tag"] = figures["poll_cost_ms_per_repo"] / max(args.tags, 1)
    for name, value in figures.items():
        print(f"{name:26s} {value:10.2f}")
    if args.json:
        print(json.dumps({k: round(v, 3) for k, v in figures.items()}))


if __name__ == "__main__":
    main()
