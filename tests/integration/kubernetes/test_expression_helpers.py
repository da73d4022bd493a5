"""Every helper function of the expression language (orca.md §4.5), called from an `evaluateVariables` stage of
a running pipeline whose other stages give the helpers something to find: a Kubernetes deploy, an AWS-style
deploy, a Cloud Foundry service key, a manual judgment, trigger artifacts and URLs on a loopback server."""

from __future__ import annotations

import http.server
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gennaker.engine.contracts import StageDefinition, Task, TaskContext, TaskResult
from gennaker.engine.evaluation import PipelineExpressions
from gennaker.expressions import Expressions, NoLookups, UrlFetcher, UrlPolicy
from gennaker.expressions.functions import function_table
from gennaker.model.execution import Stage
from gennaker.runtime import Runtime, StoreLookups
from tests.integration.kubernetes.conftest import accounts_config
from tests.integration.kubernetes.manifests import deploy_stage, deployment
from tests.support import make_runtime, pipeline, stage_statuses, wait_for, wait_status

pytestmark = pytest.mark.slow

DOCUMENTS = {
    "/notes.txt": ("text/plain", "release notes"),
    "/settings.json": ("application/json", '{"replicas": 3, "tier": "web"}'),
    "/settings.yaml": ("text/yaml", "image: nginx\nports: [80, 443]\n"),
    "/build.properties": ("text/plain", "# build\nbuild.number=17\nbranch: main\n"),
}


class Documents(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        content_type, body = DOCUMENTS.get(self.path, ("text/plain", ""))
        self.send_response(200 if self.path in DOCUMENTS else 404)
        self.send_header("Content-Type", content_type)
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def documents() -> Iterator[str]:
    """A loopback HTTP server; its URLs use a dotted name that the test's resolver maps to 127.0.0.1."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Documents)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://config.example.test:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class AwsDeployStage(StageDefinition):
    """Stands in for an AWS `deploy` stage: succeeds, leaving its configured context for the helpers."""

    type = "deploy"

    def tasks(self, stage: Stage) -> list[str]:
        return [PassTask.name]


class ServiceKeyStage(AwsDeployStage):
    """Stands in for Cloud Foundry's `createServiceKey`."""

    type = "createServiceKey"


class PassTask(Task):
    name = "testPass"

    def execute(self, tc: TaskContext) -> TaskResult:
        return TaskResult.succeeded()


class Lookups(StoreLookups):
    """The runtime's lookups, plus one canary config known without storing it."""

    def canary_config_id(self, name: str, application: str, user: str | None) -> str | None:
        return "canary-7" if (name, application) == ("latency", "shop") else None


@pytest.fixture
def rt(kubeconfig: Path, tmp_path: Path) -> Iterator[Runtime]:
    runtime = make_runtime(tmp_path, config=accounts_config(kubeconfig), engine={"manifest_poll_ms": 50})
    runtime.registry.add_stage(AwsDeployStage(), PassTask())
    runtime.registry.add_stage(ServiceKeyStage())
    fetcher = UrlFetcher(UrlPolicy(allow_loopback=True), resolver=lambda host: ["127.0.0.1"])
    runtime.expressions = Expressions(Lookups(runtime), urls=fetcher)
    runtime.services.expressions = PipelineExpressions(runtime.expressions)
    runtime.start_workers(1)
    yield runtime
    runtime.close()


IMAGE = {"type": "docker/image", "name": "gcr.io/shop/web", "version": "1.2", "reference": "gcr.io/shop/web:1.2"}


def helper_stages(base_url: str) -> list[dict[str, Any]]:
    variables = {
        "json": "${#toJson({'a': 1, 'b': {1, 2}})}",
        "notEvaluated": "${#toJson(#doNotEval('$' + '{x}')).length()}",
        "int": "${#toInt('42') + 1}",
        "float": "${#toFloat('7')}",
        "boolean": "${#toBoolean('TRUE') and !#toBoolean('yes')}",
        "base64": "${#toBase64('hello')}",
        "decoded": "${#fromBase64('aGVsbG8=')}",
        "alnum": "${#alphanumerical('feature/ABC-12_x')}",
        "reference": "${#fetchReference('s3://bucket/key')}",
        "readJson": "${#readJson('{\"a\": [1, 2]}').a[1]}",
        "readYaml": "${#readYaml('a: b').a}",
        "readAllYaml": "${#readAllYaml('a: 1\n---\na: 2').![a]}",
        "fromUrl": "${#fromUrl('" + base_url + "/notes.txt')}",
        "jsonFromUrl": "${#jsonFromUrl('" + base_url + "/settings.json').replicas}",
        "yamlFromUrl": "${#yamlFromUrl('" + base_url + "/settings.yaml').ports[1]}",
        "propertiesFromUrl": "${#propertiesFromUrl('" + base_url + "/build.properties')['build.number']}",
        "stage": "${#stage('Deploy web').status + '/' + #stage('Deploy web').hasSucceeded}",
        "stageByRefId": "${#stageByRefId('judge').name}",
        "stageExists": "${#stageExists('Approve') and !#stageExists('Nope')}",
        "currentStage": "${#currentStage().name + '/' + #currentStage().refId}",
        "currentUser": "${#currentUser()}",
        "judgment": "${#judgment('Approve')}",
        "judgement": "${#judgement('Approve') == #judgment('Approve')}",
        "deployedServerGroups": "${#deployedServerGroups()[0].serverGroup + ' ' + deployedServerGroups[0].ami}",
        "deployedRegion": "${#deployedServerGroups('Bake and deploy').![region]}",
        "manifestLabelValue": "${#manifestLabelValue('Deploy web', 'Deployment', 'app')}",
        "triggerResolvedArtifact": "${#triggerResolvedArtifact('gcr.io/shop/web').version}",
        "triggerResolvedArtifactByType": "${#triggerResolvedArtifactByType('docker/image').reference}",
        "resolvedArtifacts": "${#resolvedArtifacts().?[type == 'kubernetes/deployment'].![name]}",
        "pipelineId": "${#pipelineId('helpers')}",
        "pipelineIdOrNull": "${#pipelineIdOrNull('missing') == null}",
        "pipelineIdInApplication": "${#pipelineIdInApplication('elsewhere', 'other')}",
        "applicationMetadata": "${#applicationMetadata('shop').email}",
        "canaryConfigNameToId": "${#canaryConfigNameToId('latency', 'shop')}",
        "cfServiceKey": "${#cfServiceKey('Make key').username}",
    }
    everything = ["web", "aws", "key", "judge"]
    return [
        {**deploy_stage([deployment(config=None)], ref_id="web"), "name": "Deploy web"},
        {
            "refId": "aws",
            "type": "deploy",
            "name": "Bake and deploy",
            "region": "us-east-1",
            "credentials": "prod",
            "capacity": {"desired": 2},
            "deploy.server.groups": {"us-east-1": ["shop-v001"]},
            "deploymentDetails": [{"region": "us-east-1", "ami": "ami-123"}],
        },
        {
            "refId": "key",
            "type": "createServiceKey",
            "name": "Make key",
            "kato.tasks": [{"resultObjects": [{"serviceKey": {"username": "svc-user", "password": "secret"}}]}],
        },
        {"refId": "judge", "type": "manualJudgment", "name": "Approve", "judgmentInputs": [{"value": "ship"}]},
        {
            "refId": "all",
            "type": "evaluateVariables",
            "name": "Everything",
            "requisiteStageRefIds": everything,
            "variables": [{"key": key, "value": value} for key, value in variables.items()],
        },
    ]


def test_every_helper_function_inside_a_running_pipeline(rt: Runtime, documents: str) -> None:
    stages = helper_stages(documents)
    called = {name for v in stages[-1]["variables"] for name in re.findall(r"#(\w+)\(", v["value"])}
    assert called == set(function_table(NoLookups(), UrlFetcher())), "every helper must be exercised here"

    with rt.db.transaction() as conn:
        rt.applications.save(conn, "shop", {"email": "team@example.com"}, "tester")
    elsewhere = rt.save_pipeline(pipeline("elsewhere", [{"refId": "1", "type": "wait"}], app="other"), "tester")
    config = rt.save_pipeline(
        pipeline(
            "helpers",
            stages,
            app="shop",
            spelEvaluator="v4",
            expectedArtifacts=[{"id": "image", "matchArtifact": {"type": "docker/image", "name": "gcr.io/shop/.*"}}],
        ),
        "tester",
    )
    trigger = {"type": "manual", "artifacts": [IMAGE], "expectedArtifactIds": ["image"]}
    execution_id = rt.start_pipeline("shop", "helpers", trigger, "tester")
    wait_for(lambda: stage_statuses(rt, execution_id).get("judge") == "RUNNING", what="the judgment")
    rt.operations.judge(execution_id, "judge", "continue", "ship", "tester")
    done = wait_status(rt, execution_id, "SUCCEEDED", "TERMINAL", timeout=60)
    everything = next(s for s in done["stages"] if s["refId"] == "all")
    assert done["status"] == "SUCCEEDED", everything["context"].get("expressionEvaluationSummary")
    assert "expressionEvaluationSummary" not in everything["context"]
    assert everything["outputs"] == {
        "json": '{"a":1,"b":[1,2]}',
        "notEvaluated": 6,
        "int": 43,
        "float": 7.0,
        "boolean": True,
        "base64": "aGVsbG8=",
        "decoded": "hello",
        "alnum": "featureABC12x",
        "reference": "s3://bucket/key",
        "readJson": 2,
        "readYaml": "b",
        "readAllYaml": [1, 2],
        "fromUrl": "release notes",
        "jsonFromUrl": 3,
        "yamlFromUrl": 443,
        "propertiesFromUrl": "17",
        "stage": "SUCCEEDED/true",
        "stageByRefId": "Approve",
        "stageExists": True,
        "currentStage": "Everything/all",
        "currentUser": "tester",
        "judgment": "ship",
        "judgement": True,
        "deployedServerGroups": "shop-v001 ami-123",
        "deployedRegion": ["us-east-1"],
        "manifestLabelValue": "web",
        "triggerResolvedArtifact": "1.2",
        "triggerResolvedArtifactByType": "gcr.io/shop/web:1.2",
        "resolvedArtifacts": ["web"],
        "pipelineId": config["id"],
        "pipelineIdOrNull": True,
        "pipelineIdInApplication": elsewhere["id"],
        "applicationMetadata": "team@example.com",
        "canaryConfigNameToId": "canary-7",
        "cfServiceKey": "svc-user",
    }
