import pytest

from gennaker.bake import BakeConfigError, BakeLimits, HelmBinaryRenderer, HelmEngineRenderer
from gennaker.stages.bake_manifest import CreateBakeManifestTask


def test_defaults_and_every_key() -> None:
    assert BakeLimits.from_config(None) == BakeLimits.from_config({}) == BakeLimits()
    section = {
        "helmExecutable": "/usr/local/bin/helm",
        "maxOutputBytes": 1,
        "renderTimeoutSeconds": 2.5,
        "maxRenderMemoryBytes": 3,
        "maxInputBytes": 4,
        "maxUnpackedBytes": 5,
        "maxUnpackedFiles": 6,
        "kustomize": {"allowRemoteBases": True},
    }
    assert BakeLimits.from_config(section) == BakeLimits(
        max_output_bytes=1,
        render_timeout_s=2.5,
        max_render_memory_bytes=3,
        max_input_bytes=4,
        max_unpacked_bytes=5,
        max_unpacked_files=6,
        allow_remote_bases=True,
    )


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"maxOutputBytes": "10MB"}, "bake.maxOutputBytes must be a positive whole number"),
        ({"maxUnpackedFiles": 0}, "bake.maxUnpackedFiles must be a positive whole number"),
        ({"maxInputBytes": True}, "bake.maxInputBytes must be"),
        ({"renderTimeoutSeconds": -1}, "bake.renderTimeoutSeconds must be a positive number"),
        ({"maxOutputByte": 1}, "bake.maxOutputByte is not a known setting"),
        ({"kustomize": {"allowRemoteBases": "yes"}}, "bake.kustomize.allowRemoteBases must be true or false"),
        ({"kustomize": {"allowRemote": True}}, "bake.kustomize.allowRemote is not a known setting"),
        ({"kustomize": []}, "bake.kustomize must be a mapping"),
        ({"helmExecutable": 3}, "bake.helmExecutable must be the path of a helm binary"),
    ],
)
def test_a_bad_setting_is_named(section: dict[str, object], message: str) -> None:
    with pytest.raises(BakeConfigError, match=message):
        CreateBakeManifestTask.from_config(lambda artifact: b"", section)


def test_the_task_renders_under_the_configured_limits() -> None:
    task = CreateBakeManifestTask.from_config(lambda artifact: b"", {"maxOutputBytes": 7})
    assert isinstance(task.helm, HelmEngineRenderer) and task.helm.limits == task.limits
    assert task.limits.max_output_bytes == 7
    binary = CreateBakeManifestTask.from_config(lambda artifact: b"", {"helmExecutable": "helm", "maxOutputBytes": 7})
    assert isinstance(binary.helm, HelmBinaryRenderer) and binary.helm.limits.max_output_bytes == 7
