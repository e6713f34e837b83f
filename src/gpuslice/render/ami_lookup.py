"""Resolve public AMI SSM parameters with the AWS API (boto3, the optional ``aws`` extra; imported lazily).

Used by ``plan --resolve-amis``: a managed node group on a custom AMI needs the AMI id itself in its launch
template (EKS does not resolve ``resolve:ssm:`` there; aws/containers-roadmap#1951). Every failure (no boto3, no
credentials, no region, access denied, unknown parameter) is reported per pool, never raised: the rendered
create-nodegroup.sh resolves the parameter with the AWS CLI instead.
"""

from __future__ import annotations

from typing import Any


def _client(region: str) -> Any:
    import boto3

    return boto3.client("ssm", region_name=region)


def resolve_ssm(region: str | None, parameters: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """``parameters``: pool -> SSM parameter name. Returns (pool -> AMI id, pool -> why it was not resolved)."""
    found: dict[str, str] = {}
    why: dict[str, str] = {}
    if not parameters:
        return found, why
    if not region:
        return found, dict.fromkeys(parameters, "the spec has no cluster.region")
    try:
        client = _client(region)
    except ImportError:
        return found, dict.fromkeys(parameters, "boto3 is not installed: pip install 'gpuslice[aws]'")
    except Exception as e:  # botocore's own errors: no region/profile configuration
        return found, dict.fromkeys(parameters, f"no AWS client: {e}")
    answers: dict[str, tuple[str | None, str]] = {}  # parameter -> (AMI id, why not); one call per parameter
    for pool, name in parameters.items():
        if not name:
            why[pool] = "no public SSM parameter is known for the pool's OS"
            continue
        if name not in answers:
            try:
                value = client.get_parameter(Name=name)["Parameter"]["Value"]
            except Exception as e:  # NoCredentialsError, ClientError (AccessDenied, ParameterNotFound), network
                answers[name] = (None, f"{name}: {type(e).__name__}: {e}")
            else:
                ok = isinstance(value, str) and value.startswith("ami-")
                answers[name] = (value, "") if ok else (None, f"{name} holds {value!r}, not an AMI id")
        ami, reason = answers[name]
        if ami:
            found[pool] = ami
        else:
            why[pool] = reason
    return found, why
