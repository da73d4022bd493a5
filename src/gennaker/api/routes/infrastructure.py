"""What runs where (gate.md §1.7): an application's clusters, server groups, load balancers and
firewalls in every account the caller may read, plus one manifest's live state and a pod's logs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from gennaker.api.deps import CallerDep, RuntimeDep, readable_accounts, require_account, require_application
from gennaker.api.errors import ERROR_RESPONSES, ApiError
from gennaker.providers.kubernetes import KubernetesError
from gennaker.providers.kubernetes import manifest as mf
from gennaker.providers.kubernetes.infrastructure import instance, manifest_view
from gennaker.providers.kubernetes.operations import OperationError
from gennaker.runtime import Runtime

router = APIRouter(responses=ERROR_RESPONSES, tags=["infrastructure"])
AGE_HEADER = "X-Gennaker-View-Age"


def _accounts(request: Request, rt: Runtime, who: Any, application: str, response: Response) -> list[str]:
    require_application(request, rt, who, application, "READ")
    accounts = readable_accounts(rt, who)
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
    _accounts(request, rt, who, application, response)
    require_account(rt, who, account, "READ")
    return rt.kubernetes.infrastructure.clusters(application, [account]).get(account, [])


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
    require_account(rt, who, account, "READ")
    ops = rt.kubernetes.operations(account)
    try:
        found = ops.get(location, name)
    except (OperationError, KubernetesError) as error:
        raise ApiError(400 if isinstance(error, OperationError) else 502, str(error)) from None
    if found is None:
        raise ApiError(404, f"{name} not found in namespace '{location}' of account '{account}'")
    return manifest_view(ops.client, account, location, found)


@router.get("/instances/{account}/{region}/{instance_id}")
def instance_details(account: str, region: str, instance_id: str, rt: RuntimeDep, who: CallerDep) -> dict[str, Any]:
    """A pod as an instance (health per container), with its manifest, read live."""
    require_account(rt, who, account, "READ")
    client = rt.kubernetes.client(account)
    pod_name = instance_id.split()[-1]
    try:
        pod = client.get("v1", "Pod", region, pod_name)
    except KubernetesError as error:
        raise ApiError(502, str(error)) from None
    if pod is None:
        raise ApiError(404, f"pod '{pod_name}' not found in namespace '{region}' of account '{account}'")
    return {**instance(pod), "account": account, "region": region, "manifest": pod}


@router.get("/instances/{account}/{region}/{instance_id}/console")
def console(account: str, region: str, instance_id: str, rt: RuntimeDep, who: CallerDep) -> dict[str, Any]:
    """Logs of every init and regular container of a pod, read live."""
    require_account(rt, who, account, "READ")
    client = rt.kubernetes.client(account)
    pod_name = instance_id.split()[-1]
    try:
        pod = client.get("v1", "Pod", region, pod_name)
        if pod is None:
            raise ApiError(404, f"pod '{pod_name}' not found in namespace '{region}' of account '{account}'")
        spec = pod.get("spec") or {}
        containers = [c["name"] for c in (spec.get("initContainers") or []) + (spec.get("containers") or [])]
        output = [{"name": c, "output": client.log(region, mf.name(pod), c)} for c in containers]
    except KubernetesError as error:
        raise ApiError(502, str(error)) from None
    return {"output": output}
