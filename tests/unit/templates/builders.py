"""Builders for the template tests: a template, a config using it, and the shape of a rendered graph."""

from __future__ import annotations

import copy
from typing import Any

TEMPLATE: dict[str, Any] = {
    "schema": "v2",
    "id": "deploy-service",
    "metadata": {"name": "Deploy service", "owner": "team@example.com", "scopes": ["global"]},
    "variables": [
        {"name": "waitSeconds", "type": "int", "defaultValue": 30},
        {"name": "region", "type": "string", "defaultValue": "eu"},
    ],
    "pipeline": {
        "limitConcurrent": True,
        "triggers": [{"type": "cron", "cronExpression": "0 0 * * * ?", "enabled": True}],
        "parameterConfig": [{"name": "env", "default": "staging"}],
        "notifications": [{"type": "email", "address": "team@example.com", "when": ["pipeline.failed"]}],
        "stages": [
            {
                "refId": "wait1",
                "requisiteStageRefIds": [],
                "type": "wait",
                "name": "Wait",
                "waitTime": "${templateVariables.waitSeconds}",
            },
            {
                "refId": "deploy",
                "requisiteStageRefIds": ["wait1"],
                "type": "wait",
                "name": "Deploy",
                "comments": "to ${templateVariables.region}",
            },
        ],
    },
}


def template(**changes: Any) -> dict[str, Any]:
    made = copy.deepcopy(TEMPLATE)
    made.update(changes)
    return made


def config(**changes: Any) -> dict[str, Any]:
    made: dict[str, Any] = {
        "schema": "v2",
        "type": "templatedPipeline",
        "application": "shop",
        "name": "Deploy",
        "id": "config-1",
        "template": {
            "artifactAccount": "front50ArtifactCredentials",
            "type": "front50/pipelineTemplate",
            "reference": "spinnaker://deploy-service",
        },
        "variables": {},
        "exclude": [],
        "triggers": [],
        "parameters": [],
        "notifications": [],
        "stages": [],
    }
    made.update(changes)
    return made


def graph(pipeline: dict[str, Any]) -> dict[str, list[str]]:
    """refId → requisites, in the rendered order."""
    return {s["refId"]: s["requisiteStageRefIds"] for s in pipeline["stages"]}
