"""What runs where (gate.md §1.7): an application's clusters, server groups, load balancers and
firewalls in every account the caller may read, plus one manifest's live state and a pod's logs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from gennaker.api.deps import ActorDep, RuntimeDep
from gennaker.api.errors import ERROR_RESPONSES, ApiError
from gennaker.service.infrastructure import ApplicationView

router = APIRouter(responses=ERROR_RESPONSES, tags=["infrastructure"])
AGE_HEADER = "X-Gennaker-View-Age"


def _aged(view: ApplicationView, response: Response) -> ApplicationView:
    """The view, its age (seconds since its oldest account last heard from the target) in a header."""
    response.headers[AGE_HEADER] = f"{view.age_s():.3f}"
    return view


@router.get("/applications/{application}/clusters")
def clusters(application: str, response: Response, rt: RuntimeDep, who: ActorDep) -> dict[str, list[str]]:
    """Account → cluster names, as Gate's cluster controller answers."""
    view = _aged(rt.service.infrastructure.view(application, who), response).clusters()
    return {account: [c["name"] for c in found] for account, found in view.items()}


@router.get("/applications/{application}/clusters/{account}")
def clusters_in_account(
    application: str, account: str, response: Response, rt: RuntimeDep, who: ActorDep
) -> list[dict[str, Any]]:
    view = _aged(rt.service.infrastructure.view(application, who, account), response)
    return view.clusters().get(account, [])


@router.get("/applications/{application}/serverGroups")
def server_groups(application: str, response: Response, rt: RuntimeDep, who: ActorDep) -> list[dict[str, Any]]:
    return _aged(rt.service.infrastructure.view(application, who), response).server_groups()


@router.get("/applications/{application}/serverGroupManagers")
def server_group_managers(application: str, response: Response, rt: RuntimeDep, who: ActorDep) -> list[dict[str, Any]]:
    """Deployments with the revisions they manage (Deck's "server group managers")."""
    return _aged(rt.service.infrastructure.view(application, who), response).server_group_managers()


@router.get("/applications/{application}/serverGroups/{account}/{region}/{name}")
def server_group(
    application: str, account: str, region: str, name: str, rt: RuntimeDep, who: ActorDep
) -> dict[str, Any]:
    """One server group; `name` is `"replicaSet web-v001"` or just `web-v001`."""
    for group in rt.service.infrastructure.view(application, who, account).server_groups():
        if group["region"] == region and name in (group["name"], group["displayName"]):
            return group
    raise ApiError(404, f"server group '{name}' of '{application}' not found in {account}/{region}")


@router.get("/applications/{application}/loadBalancers")
def load_balancers(application: str, response: Response, rt: RuntimeDep, who: ActorDep) -> list[dict[str, Any]]:
    return _aged(rt.service.infrastructure.view(application, who), response).load_balancers()


@router.get("/applications/{application}/firewalls")
def firewalls(application: str, response: Response, rt: RuntimeDep, who: ActorDep) -> list[dict[str, Any]]:
    return _aged(rt.service.infrastructure.view(application, who), response).firewalls()


@router.get("/manifests/{account}/{location}/{name}")
def manifest(account: str, location: str, name: str, rt: RuntimeDep, who: ActorDep) -> dict[str, Any]:
    """One object read live, with its status, events and the artifacts it uses (`name` is `"<kind> <name>"`)."""
    return rt.service.infrastructure.live_object(account, location, name, who, view=True).view


def _pod_name(instance_id: str) -> str:
    """The pod an instance id names: `"pod <name>"` (Spinnaker's form) or `<name>`."""
    words = instance_id.split()
    if not words:
        problem = 'must name a pod ("pod <name>" or "<name>")'
        raise ApiError(400, f"instance_id: {problem}", [{"field": "instance_id", "problem": problem}])
    return words[-1]


@router.get("/instances/{account}/{region}/{instance_id}")
def instance_details(account: str, region: str, instance_id: str, rt: RuntimeDep, who: ActorDep) -> dict[str, Any]:
    """A pod as an instance (health per container), with its manifest, read live."""
    return rt.service.infrastructure.instance(account, region, _pod_name(instance_id), who)


@router.get("/instances/{account}/{region}/{instance_id}/console")
def console(account: str, region: str, instance_id: str, rt: RuntimeDep, who: ActorDep) -> dict[str, Any]:
    """Logs of every init and regular container of a pod, read live."""
    output = rt.service.infrastructure.console(account, region, _pod_name(instance_id), who)
    return {"output": [{"name": container, "output": text} for container, text in output]}
