"""`artifacts.s3` and `artifacts.gcs` accounts: halconfig's keys, validation, where credentials may go."""

import json
from pathlib import Path

import pytest

from gennaker.artifacts import ArtifactConfigError, artifact_accounts
from gennaker.artifacts.accounts import GcsAccount, S3Account


def s3_account(**fields: object) -> S3Account:
    account = artifact_accounts({"s3": {"accounts": [{"name": "s3", **fields}]}}).get("s3")
    assert isinstance(account, S3Account)
    return account


def test_s3_halconfig_keys() -> None:
    account = s3_account(
        apiEndpoint="https://minio.example.com:9000/",
        apiRegion="eu-1",
        region="",
        awsAccessKeyId="AKIAEXAMPLE",
        awsSecretAccessKey="wJalrXUtnFEMI",
        signerOverride="",
    )
    assert (account.apiEndpoint, account.apiRegion, account.region) == ("https://minio.example.com:9000", "eu-1", None)
    assert account.static_keys() == ("AKIAEXAMPLE", "wJalrXUtnFEMI")
    assert "wJalrXUtnFEMI" not in repr(account)
    assert artifact_accounts({"s3": {"accounts": [{"name": "s3"}]}}).public()[-1] == {
        "name": "s3",
        "types": ["s3/object"],
    }
    assert s3_account(apiEndpoint="minio.local:9000").apiEndpoint == "https://minio.local:9000"
    assert s3_account(accessKeyId="AK", secretAccessKey="SK").static_keys() == ("AK", "SK")
    assert s3_account().static_keys() is None  # the AWS default credential chain


def test_s3_validation_names_the_field() -> None:
    with pytest.raises(ArtifactConfigError, match=r"artifacts\.s3\.accounts\[0\]: .*must be given together"):
        artifact_accounts({"s3": {"accounts": [{"name": "s3", "awsAccessKeyId": "AK"}]}})
    with pytest.raises(ArtifactConfigError, match=r"artifacts\.s3\.accounts\[0\]\.apiEndpoint: .*not an http or https"):
        artifact_accounts({"s3": {"accounts": [{"name": "s3", "apiEndpoint": "ftp://minio:21"}]}})
    with pytest.raises(ArtifactConfigError, match=r"artifacts\.s3\.accounts\[0\]\.name: field required"):
        artifact_accounts({"s3": {"accounts": [{"name": ""}]}})


def test_s3_credentials_go_to_the_endpoint_or_to_aws_only() -> None:
    minio = s3_account(apiEndpoint="http://127.0.0.1:9000")
    assert minio.may_send_credentials_to("http://127.0.0.1:9000/bucket/key")
    assert not minio.may_send_credentials_to("http://127.0.0.1:9001/bucket/key")
    assert not minio.may_send_credentials_to("https://bucket.s3.amazonaws.com/key")
    aws = s3_account(region="eu-west-1")
    assert aws.may_send_credentials_to("https://bucket.s3.eu-west-1.amazonaws.com/key")
    assert aws.may_send_credentials_to("https://s3.cn-north-1.amazonaws.com.cn/bucket/key")
    assert not aws.may_send_credentials_to("http://bucket.s3.eu-west-1.amazonaws.com/key")
    assert not aws.may_send_credentials_to("https://amazonaws.com.evil.example/key")
    assert not aws.may_send_credentials_to("https://bucket.s3.amazonaws.com:8443/key")
    assert aws.credential_hosts() == ["https://*.amazonaws.com", "https://*.amazonaws.com.cn"]


def test_gcs_accounts(tmp_path: Path) -> None:
    key = tmp_path / "key.json"
    key.write_text(json.dumps({"type": "service_account", "client_email": "a@b"}))
    accounts = artifact_accounts({"gcs": {"accounts": [{"name": "gcs", "jsonPath": str(key)}, {"name": "adc"}]}})
    gcs, adc = accounts.get("gcs"), accounts.get("adc")
    assert isinstance(gcs, GcsAccount) and isinstance(adc, GcsAccount)
    assert (gcs.jsonPath, gcs.apiEndpoint) == (str(key), "https://storage.googleapis.com")
    assert adc.jsonPath is None
    assert gcs.may_send_credentials_to("https://storage.googleapis.com/storage/v1/b/x/o/y")
    assert not gcs.may_send_credentials_to("https://evil.example/storage/v1/b/x/o/y")
    assert [a.name for a in accounts.for_type("gcs/object")] == ["gcs", "adc"]


def test_gcs_json_path_is_checked_at_load(tmp_path: Path) -> None:
    with pytest.raises(
        ArtifactConfigError, match=r"gcs\.accounts\[0\]\.jsonPath: cannot read jsonPath .*missing\.json"
    ):
        artifact_accounts({"gcs": {"accounts": [{"name": "gcs", "jsonPath": str(tmp_path / "missing.json")}]}})
    (tmp_path / "bad.json").write_text("not json")
    with pytest.raises(ArtifactConfigError, match=r"jsonPath .*bad\.json is not JSON"):
        artifact_accounts({"gcs": {"accounts": [{"name": "gcs", "jsonPath": str(tmp_path / "bad.json")}]}})
    (tmp_path / "untyped.json").write_text("{}")
    with pytest.raises(ArtifactConfigError, match=r"untyped\.json is not a Google credentials file"):
        artifact_accounts({"gcs": {"accounts": [{"name": "gcs", "jsonPath": str(tmp_path / "untyped.json")}]}})
