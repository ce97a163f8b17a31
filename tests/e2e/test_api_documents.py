"""``/openapi.json`` and ``/events`` on a live gateway, and schemathesis against the former."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from modules import discover
from tests.conftest import RunningStack
from tests.e2e.helpers import new_user, register, status_of

pytestmark = pytest.mark.e2e

# Everything the issue asks of the document, plus: invalid input is refused, methods the
# document does not list are refused, and secured operations really need their token.
CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "unsupported_method",
        "ignored_auth",
    )
)
MAX_EXAMPLES = 10
SCHEMATHESIS_TIMEOUT_S = 300


def test_openapi_describes_every_declared_route(client: httpx.Client) -> None:
    """Every module route is an operation with its request model, outcome and auth."""
    document = client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    declared = {
        (route.method.lower(), route.path): (cls, route)
        for cls in discover().values()
        for route in cls.routes
    }
    for (method, path), (cls, route) in declared.items():
        operation = document["paths"][path][method]
        assert operation["operationId"] == cls.command_name(route.handler)
        assert {"202", str(route.success_status), "422"} <= operation["responses"].keys()
        secured = route.auth or route.mode == "query"
        assert ("security" in operation) == secured, path
    register_op = document["paths"]["/public/register"]["post"]
    body = register_op["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/RegisterRequest"}
    assert document["components"]["schemas"]["RegisterRequest"]["required"] == [
        "email",
        "username",
        "password",
    ]
    problem = register_op["responses"]["409"]["content"]["application/problem+json"]
    assert problem["schema"] == {"$ref": "#/components/schemas/Problem"}


def test_events_lists_hooks_in_the_order_a_worker_runs_them(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    """/events gives user_created's payload schema and, to a holder of hooks:read, its hooks
    in the order the trace shows, with open_wallet marked critical."""
    catalogue = client.get("/events", headers=admin).json()
    assert catalogue["asyncapi"] == "3.0.0"
    channel = catalogue["channels"]["user_created"]
    payload = channel["messages"]["user_created"]["payload"]["$ref"].rsplit("/", 1)[1]
    assert catalogue["components"]["schemas"][payload]["required"] == [
        "user_id",
        "email",
        "username",
    ]
    listed = [hook["hook"] for hook in channel["x-hooks"]]
    response = register(client, new_user())
    trace = status_of(client, response)["hooks"]
    ran = [f"{h['module']}.{h['handler']}" for h in trace if h["event"] == "user_created"]
    assert (
        listed
        == ran
        == [
            "wallet.open_wallet",
            "notifications.notify",
            "audit.record",
            "webhooks.fan_out",
        ]
    )
    assert [hook["critical"] for hook in channel["x-hooks"]] == [True, False, False, False]


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    admin: dict[str, str], stack: RunningStack, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A bounded schemathesis run against the live gateway's /openapi.json passes every check."""
    auth = admin  # an admin reaches every operation, the admin ones included
    report = tmp_path_factory.mktemp("schemathesis")
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{stack.base_url}/openapi.json",
        f"--checks={CHECKS}",
        f"--max-examples={MAX_EXAMPLES}",
        "--phases=examples,coverage,fuzzing",
        "--seed=20261121",
        "--no-shrink",
        "--workers=1",
        f"--header=Authorization: {auth['Authorization']}",
        # Logging out would end the session every other operation is called with.
        "--exclude-path=/userauth/logout",
        f"--report-dir={report}",
    ]
    result = subprocess.run(
        command,
        cwd=report,  # schemathesis keeps a cache in its working directory
        capture_output=True,
        text=True,
        timeout=SCHEMATHESIS_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    # Exit 0: no failed check; warnings (inputs the API refuses more strictly than the
    # schema says, such as unknown permission scopes) are not failures.
    assert "Test cases:" in result.stdout and "failed" not in result.stdout.split("Test cases:")[1]
