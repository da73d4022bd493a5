"""`python -m gennaker.bake.helm_child`: the child process in which `HelmEngineRenderer` runs Helm's engine.

It reads one JSON request on stdin and writes the manifests to stdout. A BakeError's message goes to stderr
with exit status `BAKE_ERROR_STATUS`; any other status is a crash (a Go fatal error, no memory left).
Nothing imports this module, so running it does not load it twice.
"""

from __future__ import annotations

import sys

from gennaker.bake.errors import BakeError
from gennaker.bake.helm import BAKE_ERROR_STATUS, render_request


def main() -> int:
    try:
        output = render_request(sys.stdin.buffer.read())
    except BakeError as error:
        sys.stderr.write(str(error))
        return BAKE_ERROR_STATUS
    sys.stdout.buffer.write(output.encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
