"""The alloy_verify action: the module's result, plus on the controller its report lines and,
for an unhealthy host, a failure naming the host (site.yml's gate is this one task)."""
from __future__ import annotations

from typing import Any, Dict
from unittest import mock

import pytest
from ansible_collections.fleet.alloy.plugins.action.alloy_verify import ActionModule

CHECKS = [{"name": "alloy ready", "ok": True, "detail": "HTTP 200", "elapsed": 0.01},
          {"name": "delivery loki", "ok": False, "detail": "0 sent, 12 dropped (HTTP 401)", "elapsed": 5.0}]


def run(args: Dict[str, Any], module_result: Dict[str, Any], host: str = "web-1", async_val: int = 0) -> Dict[str, Any]:
    task = mock.MagicMock(args=args, async_val=async_val, check_mode=False)
    connection = mock.MagicMock(has_native_async=False)
    action = ActionModule(task, connection, mock.MagicMock(check_mode=False), None, None, None)
    with mock.patch.object(ActionModule, "_execute_module", return_value=dict(module_result)) as execute:
        result = action.run(task_vars={"inventory_hostname": host})
    assert execute.call_args.kwargs["module_name"] == "fleet.alloy.alloy_verify"
    assert execute.call_args.kwargs["module_args"] == args
    assert execute.call_args.kwargs["wrap_async"] is bool(async_val)
    return result


def test_the_report_is_the_summary_then_a_line_per_check() -> None:
    result = run({"report": True}, {"healthy": True, "summary": "healthy: 2 checks passed", "checks": CHECKS})
    assert result["report"] == ["alloy ready | ok | HTTP 200", "delivery loki | FAIL | 0 sent, 12 dropped (HTTP 401)"]
    assert result["_ansible_verbose_always"] is True
    assert not result.get("failed")


@pytest.mark.parametrize("report", [False, "no"])
def test_without_report_the_result_is_the_modules(report: object) -> None:
    result = run({"report": report}, {"healthy": True, "summary": "healthy: 2 checks passed", "checks": CHECKS})
    assert "report" not in result and "_ansible_verbose_always" not in result


def test_an_unhealthy_host_fails_with_its_name_first() -> None:
    summary = "unhealthy: 1 of 2 checks failed: delivery loki (0 sent, 12 dropped (HTTP 401))"
    result = run({"report": True, "fail_on_unhealthy": True},
                 {"failed": True, "healthy": False, "summary": summary, "checks": CHECKS,
                  "msg": "alloy_verify: " + summary}, host="db-7")
    assert result["failed"] is True
    assert result["msg"] == "db-7 is not healthy: 1 of 2 checks failed: delivery loki (0 sent, 12 dropped (HTTP 401))"
    assert result["report"][1] == "delivery loki | FAIL | 0 sent, 12 dropped (HTTP 401)"


def test_a_mistake_in_the_parameters_keeps_its_message() -> None:
    msg = "alloy_verify: loki_endpoints[0].url is required"
    result = run({"report": True}, {"failed": True, "msg": msg})
    assert result["msg"] == msg
    assert "report" not in result


def test_async_hands_back_the_job_untouched() -> None:
    result = run({"report": True}, {"ansible_job_id": "j1.2", "started": 1, "finished": 0}, async_val=60)
    assert result["ansible_job_id"] == "j1.2"
    assert "report" not in result and "_ansible_verbose_always" not in result
