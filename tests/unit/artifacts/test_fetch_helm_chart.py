from pathlib import Path

import pytest
import yaml

from gennaker.artifacts import ArtifactFetchError
from tests.emulators.github import LocalHttpServer, Reply, Request, text_reply
from tests.unit.artifacts.conftest import MakeFetcher
from tests.unit.bake.charts import package_chart, write_chart


def test_helm_chart_from_repository_index(make_fetcher: MakeFetcher, tmp_path: Path) -> None:
    old = package_chart(write_chart(tmp_path / "v1", version="0.1.0"), tmp_path / "dist")
    new = package_chart(write_chart(tmp_path / "v2", version="0.2.0"), tmp_path / "dist")
    server_box: list[LocalHttpServer] = []

    def serve(request: Request) -> Reply:
        if request.basic_auth() != ("h", "hp"):
            return text_reply(401, "auth please")
        if request.path == "/charts/index.yaml":
            index = {
                "apiVersion": "v1",
                "entries": {
                    "web": [
                        {"name": "web", "version": "0.2.0", "urls": [f"{server_box[0].url}/charts/web-0.2.0.tgz"]},
                        {"name": "web", "version": "0.1.0", "urls": ["web-0.1.0.tgz"]},
                    ]
                },
            }
            return Reply(200, yaml.safe_dump(index).encode())
        archives = {"/charts/web-0.1.0.tgz": old, "/charts/web-0.2.0.tgz": new}
        return Reply(200, archives[request.path]) if request.path in archives else text_reply(404, "no")

    with LocalHttpServer(serve) as server:
        server_box.append(server)
        section = {
            "helm": {
                "accounts": [
                    {"name": "charts", "repository": f"{server.url}/charts", "username": "h", "password": "hp"}
                ]
            }
        }
        fetcher = make_fetcher(section)
        assert fetcher({"type": "helm/chart", "name": "web", "version": "0.1.0", "artifactAccount": "charts"}) == old
        assert fetcher({"type": "helm/chart", "name": "web", "artifactAccount": "charts"}) == new  # newest first
        with pytest.raises(
            ArtifactFetchError,
            match=r"helm/chart name=web version=9\.9\.9 with account charts: .*has no version 9\.9\.9",
        ):
            fetcher({"type": "helm/chart", "name": "web", "version": "9.9.9", "artifactAccount": "charts"})
        with pytest.raises(ArtifactFetchError, match="chart db is not in repository"):
            fetcher({"type": "helm/chart", "name": "db", "artifactAccount": "charts"})
