"""The xdist scheduling units of ``tests/conftest.py``: suite tests spread, modules kept whole."""

from __future__ import annotations

from tests.conftest import kept_whole, scope_of


def test_suite_modules_with_module_fixtures_are_kept_whole() -> None:
    whole = kept_whole()
    assert "tests/suite/test_provision.py" in whole  # three provisioning runs, read by each test
    assert "tests/suite/test_drift_etcd.py" not in whole


def test_suite_tests_are_their_own_unit_and_other_tests_go_by_module() -> None:
    whole = frozenset({"tests/suite/test_provision.py"})
    etcd = "tests/suite/test_drift_etcd.py::test_readdressed_node_fails_etcd02_naming_it"
    assert scope_of(etcd, whole) == etcd
    provision = "tests/suite/test_provision.py::test_third_run_has_nothing_to_change"
    assert scope_of(provision, whole) == "tests/suite/test_provision.py"
    cli = "tests/simulator/test_talos_cli.py::test_version_output[served]"
    assert scope_of(cli, whole) == "tests/simulator/test_talos_cli.py"
