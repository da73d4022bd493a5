"""`ci.jenkins` configuration: masters with credentials inline or from files, clear errors naming each key,
secrets never shown."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from gennaker.ci.jenkins import JenkinsConfigError, jenkins_masters
from gennaker.ci.jenkins.client import InvalidJobName, job_path, jobs_tree


def config(*masters: Mapping[str, object], **section: object) -> dict[str, object]:
    return {"ci": {"jenkins": {"masters": list(masters), **section}}}


def test_masters_with_inline_and_file_credentials(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("api-token-from-file\n")
    masters = jenkins_masters(
        config(
            {
                "name": "prod",
                "address": "https://jenkins.example.com/",
                "username": "bot",
                "passwordFile": str(secret),
                "csrf": True,
                "permissions": {"READ": ["dev"], "WRITE": ["ops"]},
            },
            {"name": "proxy", "address": "http://ci.example.com:8080/jenkins", "token": "bearer-secret"},
            {"name": "open", "address": "http://10.0.0.5:8080"},
            queueTimeoutSeconds=60,
        )
    )
    assert masters.names == ["prod", "proxy", "open"]
    prod, proxy, open_master = (masters.get(n) for n in ("prod", "proxy", "open"))
    assert prod is not None and proxy is not None and open_master is not None
    assert prod.address == "https://jenkins.example.com" and prod.csrf is True
    assert prod.basic_auth() == ("bot", "api-token-from-file") and prod.bearer_token() is None
    assert proxy.basic_auth() is None and proxy.bearer_token() == "bearer-secret"
    assert open_master.basic_auth() is None and open_master.bearer_token() is None and not open_master.has_credentials()
    assert masters.queue_timeout_s == 60 and masters.start_timeout_s == 900 and masters.max_poll_s == 10
    shown = repr(list(masters)) + str(masters.public())
    assert "api-token-from-file" not in shown and "bearer-secret" not in shown
    assert masters.public()[0] == {
        "name": "prod",
        "type": "jenkins",
        "address": "https://jenkins.example.com",
        "csrf": True,
        "permissions": {"READ": ["dev"], "WRITE": ["ops"]},
    }


def test_a_username_with_a_token_uses_basic_auth() -> None:
    master = jenkins_masters(config({"name": "a", "address": "https://j.example", "username": "me", "token": "t"})).get(
        "a"
    )
    assert master is not None and master.basic_auth() == ("me", "t") and master.bearer_token() is None


def test_no_section_or_disabled_means_no_masters() -> None:
    assert len(jenkins_masters({})) == 0
    assert len(jenkins_masters({"ci": {"jenkins": {"enabled": False, "masters": [{"name": "x"}]}}})) == 0


@pytest.mark.parametrize(
    ("masters", "section", "problem"),
    [
        ([{"address": "https://j.example"}], {}, "ci.jenkins.masters[0].name: field required"),
        ([{"name": "a", "address": "ftp://j.example"}], {}, "ci.jenkins.masters[0].address: 'ftp://j.example' is not"),
        (
            [{"name": "a", "address": "https://u:p@j.example"}],
            {},
            "ci.jenkins.masters[0].address: must not hold credentials",
        ),
        ([{"name": "a b", "address": "https://j.example"}], {}, "ci.jenkins.masters[0].name: 'a b' must be letters"),
        (
            [{"name": "a", "address": "https://j.example", "pasword": "x"}],
            {},
            "ci.jenkins.masters[0].pasword: unknown key",
        ),
        ([{"name": "a", "address": "https://j.example", "password": "x"}], {}, "a password needs a username"),
        ([{"name": "a", "address": "https://j.example", "username": "u"}], {}, "a username needs a password"),
        (
            [{"name": "a", "address": "https://j.example", "username": "u", "password": "p", "token": "t"}],
            {},
            "not both",
        ),
        (
            [{"name": "a", "address": "https://j.example", "username": "u", "password": "p", "passwordFile": "/x"}],
            {},
            "password and passwordFile are mutually exclusive",
        ),
        (
            [{"name": "a", "address": "https://j.example", "username": "u", "passwordFile": "/no/such/file"}],
            {},
            "ci.jenkins.masters[0]: cannot read passwordFile /no/such/file",
        ),
        (
            [{"name": "a", "address": "https://j.example", "permissions": {"EXECUTE": ["x"]}}],
            {},
            "ci.jenkins.masters[0].permissions: unknown permission 'EXECUTE'",
        ),
        ([], {"queueTimeoutSeconds": 0}, "ci.jenkins.queueTimeoutSeconds: must be a positive number of seconds"),
        ([], {"polling": True}, "ci.jenkins.polling: unknown key"),
    ],
)
def test_errors_name_the_key(masters: list[dict[str, object]], section: dict[str, object], problem: str) -> None:
    with pytest.raises(JenkinsConfigError) as raised:
        jenkins_masters(config(*masters, **section))
    assert problem in str(raised.value)
    assert str(raised.value).startswith("invalid ci.jenkins: ")


def test_duplicate_names_and_unknown_ci_systems_are_refused() -> None:
    master = {"name": "a", "address": "https://j.example"}
    with pytest.raises(JenkinsConfigError, match="master name 'a' is used more than once"):
        jenkins_masters(config(master, master))
    with pytest.raises(JenkinsConfigError, match=r"ci\.travis: not supported \(supported: jenkins"):
        jenkins_masters({"ci": {"travis": {"enabled": True}}})
    assert len(jenkins_masters({"ci": {"travis": {"enabled": False}, "concourse": {"enabled": False}}})) == 0
    with pytest.raises(JenkinsConfigError, match=r"ci\.jenkins\.masters: must be a list"):
        jenkins_masters({"ci": {"jenkins": {"masters": {"name": "a"}}}})


def test_the_runtime_refuses_an_invalid_section(tmp_path: Path) -> None:
    from tests.support import make_runtime

    with pytest.raises(JenkinsConfigError, match=r"ci\.jenkins\.masters\[0\]\.address"):
        make_runtime(tmp_path, config=config({"name": "a", "address": "nowhere"}))


def test_job_paths_keep_folders_and_encode_names() -> None:
    assert job_path("app") == "job/app"
    assert job_path("team/job/my app") == "job/team/job/my%20app"
    assert job_path("/team/job/app/") == "job/team/job/app"
    for bad in ("", "a//b", "../secret", "a/./b"):
        with pytest.raises(InvalidJobName, match="is not a Jenkins job name"):
            job_path(bad)
    assert jobs_tree(2) == "jobs[name,jobs[name,jobs[name]]]"
