"""Expression benchmark (issue 3): evaluations per second of 20 typical pipeline expressions with the parse
cached, on one core, and the parse time of a 10,000-character expression.

    python bench/expressions.py [--json] [--seconds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from gennaker.expressions import Expressions, stage_root
from gennaker.expressions.compiler import compile_expression

EXECUTION = {
    "id": "01BENCH",
    "application": "shop",
    "name": "release",
    "status": "RUNNING",
    "authentication": {"user": "alice@example.com"},
    "trigger": {
        "type": "jenkins",
        "user": "alice",
        "parameters": {"env": "prod", "region": "us-west-2", "replicas": "3"},
        "properties": {"imageName": "registry/shop:1.2.3"},
        "buildInfo": {"number": 42},
    },
    "stages": [
        {
            "id": "s1",
            "refId": "1",
            "type": "manualJudgment",
            "name": "Approve",
            "status": "SUCCEEDED",
            "context": {"judgmentInput": "ship"},
            "outputs": {},
            "requisiteStageRefIds": [],
        },
        {
            "id": "s2",
            "refId": "2",
            "type": "evaluateVariables",
            "name": "Vars",
            "status": "SUCCEEDED",
            "context": {},
            "outputs": {"version": "1.2.3", "hosts": ["a", "b", "c"]},
            "requisiteStageRefIds": ["1"],
        },
        {
            "id": "s3",
            "refId": "3",
            "type": "deployManifest",
            "name": "Deploy",
            "status": "RUNNING",
            "context": {"account": "prod-east", "namespace": "shop"},
            "outputs": {},
            "requisiteStageRefIds": ["2"],
        },
    ],
}

EXPRESSIONS = [
    "parameters['env']",
    "parameters.region ?: 'us-east-1'",
    "trigger['properties']['imageName']",
    "trigger.buildInfo.number",
    "#judgment('Approve') == 'ship'",
    "#stage('Vars')['outputs']['version']",
    "version",
    "hosts.size() > 2",
    "parameters.env == 'prod' ? 3 : 1",
    "#toInt(parameters.replicas) * 2",
    "account.startsWith('prod')",
    "namespace + '-' + parameters.env",
    "execution.stages.?[type == 'manualJudgment'].size()",
    "execution.stages.![name]",
    "trigger?.buildInfo?.url ?: 'none'",
    "#stageExists('Deploy')",
    "parameters.region.replaceAll('-', '_').toUpperCase()",
    "hosts.contains('b') and parameters.env != 'dev'",
    "execution.authentication.user.split('@')[0]",
    "#alphanumerical(trigger.properties.imageName)",
]


def evals_per_second(seconds: float) -> float:
    expressions = Expressions()
    root = stage_root(EXECUTION, EXECUTION["stages"][2])
    for text in EXPRESSIONS:  # warm the parse cache and check every expression works
        expressions.processor.evaluate(text, root)
    evaluate = expressions.processor.evaluate
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for text in EXPRESSIONS:
            evaluate(text, root)
        count += len(EXPRESSIONS)
    return count / (time.perf_counter() - started)


def parse_10k_ms(samples: int = 5) -> float:
    text = "1" + " + parameters['x'].length()" * 400
    text = (text + " + 1" * 10_000)[:10_000]
    assert len(text) == 10_000
    timings = []
    for _ in range(samples):
        compile_expression.cache_clear()
        started = time.perf_counter()
        compile_expression(text)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    figures = {"evals_per_s": evals_per_second(args.seconds), "parse_10k_ms": parse_10k_ms()}
    print(f"evals_per_s   {figures['evals_per_s']:12.0f}   target >= 100000")
    print(f"parse_10k_ms  {figures['parse_10k_ms']:12.1f}")
    if args.json:
        print(json.dumps({k: round(v, 2) for k, v in figures.items()}))


if __name__ == "__main__":
    main()
