"""What runs where (gate.md §1.7): an application's clusters, server groups, load balancers and
firewalls in every account the caller may read, plus one manifest's live state and a pod's logs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from gennaker.api.deps import (
    CallerDep,
    RuntimeDep,
    live_manifest,
    live_pod,
    readable_accounts,
    require_account,
    require_application,
)
from gennaker.api.errors import ERROR_RESPONSES, ApiError
from gennaker.providers.kubernetes import KubernetesError
from gennaker.providers.kubernetes.infrastructure import container_logs, instance, manifest_view
from gennaker.runtime import Runtime

router = APIRouter(responses=ERROR_RESPONSES, tags=["infrastructure"])
AGE_HEADER = "X-Gennaker-View-Age"


def _accounts(
    request: Request, rt: Runtime, who: Any, application: str, response: Response, only: str | None = None
) -> list[str]:
    """The accounts a view of the application covers (all readable ones, or `only`), with the view's age."""
    require_application(request, rt, who, application, "READ")
    if only is not None:
        require_account(rt, who, only, "READ")
    accounts = [only] if only is not None else readable_accounts(rt, who)
    ages = [rt.kubernetes.infrastructure.age_s(a) for a in accounts]
    response.headers[AGE_HEADER] = f"{max(ages):.3f}" if ages else "0"
    return accounts


@router.get("/applications/{application}/clusters")
def clusters(
    application: str, request: Request, response: Response, rt: RuntimeDep, who: CallerDep
) -> dict[str, list[str]]:
    """Account → cluster names, as Gate's cluster controller answers."""
    view = rt.kubernetes.infrastructure.clusters(application, _accounts(request, rt, who, application, response))
    return {account: [c["name"] for c in found] for account, found in view.items()}


@router.get("/applications/{application}/clusters/{account}")
def clusters_in_account(
    application: str, account: str, request: Request, response: Response, rt: RuntimeDep, who: CallerDep
) -> list[dict[str, Any]]:
    accounts = _accounts(request, rt, who, application, response, only=account)
    return rt.kubernetes.infrastructure.clusters(application, accounts).get(account, [])


@router.get("/applications/{application}/serverGroups")
def server_groups(
    application: str, request: Request, response: Response, rt: RuntimeDep, who: CallerDep
) -> list[dict[str, Any]]:
    return rt.kubernetes.infrastructure.server_groups(application, _accounts(request, rt, who, application, response))


@router.get("/applications/{application}/serverGroupManagers")
def server_group_managers(
    application: str, request: Request, response: Response, rt: RuntimeDep, who: CallerDep
) -> list[dict[str, Any]]:
    """Deployments with the revisions they manage (Deck's "server group managers")."""
    accounts = _accounts(request, rt, who, application, response)
    return rt.kubernetes.infrastructure.server_group_managers(application, accounts)


@router.get("/applications/{application}/serverGroups/{account}/{region}/{name}")
def server_group(
    application: str, account: str, region: str, name: str, request: Request, rt: RuntimeDep, who: CallerDep
) -> dict[str, Any]:
    """One server group; `name` is `"replicaSet web-v001"` or just `web-v001`."""
    require_application(request, rt, who, application, "READ")
    require_account(rt, who, account, "READ")
    for group in rt.kubernetes.infrastructure.server_groups(application, [account]):
        if group["region"] == region and name in (group["name"], group["displayName"]):
            return group
    raise ApiError(404, f"server group '{name}' of '{application}' not found in {account}/{region}")


@router.get("/applications/{application}/loadBalancers")
def load_balancers(
    application: str, request: Request, response: Response, rt: RuntimeDep, who: CallerDep
) -> list[dict[str, Any]]:
    return rt.kubernetes.infrastructure.load_balancers(application, _accounts(request, rt, who, application, response))


@router.get("/applications/{application}/firewalls")
def firewalls(
    application: str, request: Request, response: Response, rt: RuntimeDep, who: CallerDep
) -> list[dict[str, Any]]:
    return rt.kubernetes.infrastructure.firewalls(application, _accounts(request, rt, who, application, response))


@router.get("/manifests/{account}/{location}/{name}")
def manifest(account: str, location: str, name: str, rt: RuntimeDep, who: CallerDep) -> dict[str, Any]:
    """One object read live, with its status, events and the artifacts it uses (`name` is `"<kind> <name>"`)."""
    ops, found = live_manifest(rt, who, account, location, name)
    return manifest_view(ops.client, account, location, found)


def _pod_name(instance_id: str) -> str:
    """The pod an instance id names: `"pod <name>"` (Spinnaker's form) or `<name>`."""
    words = instance_id.split()
    if not words:
        problem = 'must name a pod ("pod <name>" or "<name>")'
        raise ApiError(400, f"instance_id: {problem}", [{"field": "instance_id", "problem": problem}])
    return words[-1]


@router.get("/instances/{account}/{region}/{instance_id}")
def instance_details(account: str, region: str, instance_id: str, rt: RuntimeDep, who: CallerDep) -> dict[str, Any]:
    """A pod as an instance (health per container), with its manifest, read live."""
    _, pod = live_pod(rt, who, account, region, _pod_name(instance_id))
    return {**instance(pod), "account": account, "region": region, "manifest": pod}


@router.get("/instances/{account}/{region}/{instance_id}/console")
def console(account: str, region: str, instance_id: str, rt: RuntimeDep, who: CallerDep) -> dict[str, Any]:
    """Logs of every init and regular container of a pod, read live."""
    client, pod = live_pod(rt, who, account, region, _pod_name(instance_id))
    try:
        return {"output": [{"name": c, "output": text} for c, text in container_logs(client, pod)]}
    except KubernetesError as error:
        raise ApiError(502, str(error)) from None
