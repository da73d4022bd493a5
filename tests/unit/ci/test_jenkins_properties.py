"""Property files by suffix (Java properties, YAML, JSON) and Jenkins JSON in Spinnaker's shapes."""

from __future__ import annotations

import pytest

from gennaker.ci.jenkins import PropertyFileError, generic_build, job_config, parse_property_file


def test_java_properties() -> None:
    text = (
        "# comment\n"
        "! also a comment\n"
        "\n"
        "IMAGE=registry.example/app:1.0\n"
        "  COMMIT : 9f2c\n"
        "URL=http://x.example/a=b\n"
        "LONG=first \\\n"
        "     second\n"
        "ESCAPED\\=KEY=tab\\there\n"
        "UNICODE=caf\\u00e9\n"
        "EMPTY=\n"
    )
    assert parse_property_file("build.properties", text.encode()) == {
        "IMAGE": "registry.example/app:1.0",
        "COMMIT": "9f2c",
        "URL": "http://x.example/a=b",
        "LONG": "first second",
        "ESCAPED=KEY": "tab\there",
        "UNICODE": "café",
        "EMPTY": "",
    }


def test_yaml_and_json_by_suffix() -> None:
    assert parse_property_file("props.yml", b"image: app:1\nreplicas: 3\n") == {"image": "app:1", "replicas": 3}
    assert parse_property_file("props.YAML", b"a: {b: 1}\n") == {"a": {"b": 1}}
    assert parse_property_file("out.json", b'{"tag": "1.2", "ok": true}') == {"tag": "1.2", "ok": True}


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("build.properties", b"", "build.properties is empty"),
        ("build.properties", b"   \n\n", "build.properties is empty"),
        ("build.properties", b"# only a comment\n", "build.properties holds no key=value lines"),
        ("build.properties", b"A=1\njust words\n", "line 2 of build.properties is not key=value: 'just words'"),
        ("build.properties", b"=value\n", "line 1 of build.properties has no key before '='"),
        ("p.yaml", b"[1, 2]\n", "p.yaml must hold a non-empty YAML mapping of keys to values"),
        ("p.yaml", b"a: [\n", "p.yaml is not valid YAML"),
        ("p.json", b"[]", "p.json must hold a non-empty JSON mapping"),
        ("p.json", b"{nope", "p.json is not valid JSON"),
    ],
)
def test_malformed_files_are_named(name: str, content: bytes, problem: str) -> None:
    with pytest.raises(PropertyFileError) as raised:
        parse_property_file(name, content)
    assert str(raised.value).startswith(problem)


def test_a_running_build_shows_building_and_a_finished_one_its_result() -> None:
    raw = {"number": 7, "building": True, "result": None, "url": "https://j/job/a/7/", "timestamp": 1714000000000}
    running = generic_build("a", raw)
    assert running == {
        "building": True,
        "name": "a",
        "number": 7,
        "timestamp": "1714000000000",
        "result": "BUILDING",
        "url": "https://j/job/a/7/",
        "id": "a-7",
        "artifacts": [],
    }
    done = generic_build(
        "a",
        {
            **raw,
            "building": False,
            "result": "SUCCESS",
            "duration": 1200,
            "actions": [
                {},
                {"failCount": 1, "skipCount": 0, "totalCount": 5, "urlName": "testReport"},
                {
                    "lastBuiltRevision": {"SHA1": "abc", "branch": [{"SHA1": "abc", "name": "origin/main"}]},
                    "remoteUrls": ["https://git.example/a.git"],
                },
            ],
        },
    )
    assert done["result"] == "SUCCESS" and done["duration"] == 1200
    assert done["testResults"] == [{"failCount": 1, "skipCount": 0, "totalCount": 5, "urlName": "testReport"}]
    assert done["scm"] == [
        {"name": "origin/main", "branch": "main", "sha1": "abc", "remoteUrl": "https://git.example/a.git"}
    ]


def test_job_config_lists_parameter_definitions() -> None:
    raw = {
        "name": "app",
        "displayName": "app",
        "buildable": True,
        "url": "https://j/job/app/",
        "property": [
            {"_class": "x.Other"},
            {
                "parameterDefinitions": [
                    {
                        "name": "ENV",
                        "type": "ChoiceParameterDefinition",
                        "choices": ["dev", "prod"],
                        "defaultParameterValue": {"name": "ENV", "value": "dev"},
                    },
                    {"name": "FLAG", "type": "BooleanParameterDefinition"},
                ]
            },
        ],
    }
    shown = job_config(raw)
    assert shown["parameterDefinitionList"] == [
        {
            "name": "ENV",
            "type": "ChoiceParameterDefinition",
            "description": None,
            "defaultParameterValue": {"name": "ENV", "value": "dev"},
            "defaultName": "ENV",
            "defaultValue": "dev",
            "choices": ["dev", "prod"],
        },
        {
            "name": "FLAG",
            "type": "BooleanParameterDefinition",
            "description": None,
            "defaultParameterValue": None,
            "defaultName": None,
            "defaultValue": None,
        },
    ]
    assert shown["buildable"] is True and shown["upstreamProjectList"] == []
