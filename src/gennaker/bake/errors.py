"""The one error type of baking, so the stage can fail with the renderer's own message."""


class BakeError(RuntimeError):
    """Rendering manifests failed; the message is the renderer's (Helm's or kustomize's) explanation."""
