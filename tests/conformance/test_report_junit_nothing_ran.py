"""A certification in which no check ran (every check unsupported) is NOT CERTIFIED and `lockstep certify` exits 1,
but its junit.xml said failures=0 errors=0 with every case skipped: a JUnit reader showed it green. It now holds an
error case saying that no check ran."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from lockstep.conformance.report import junit_xml
from lockstep.conformance.results import Certification, CheckResult, Worst


def _cert(*outcomes: str) -> Certification:
    checks = [CheckResult("add", 1, dtype, "cpu", outcome, message="no graphs" if outcome == "unsupported" else "",
                          worst=Worst("output", 0.0, 1e-12, 0.0) if outcome == "pass" else None)
              for outcome, dtype in zip(outcomes, ("float32", "float64"), strict=False)]
    return Certification(adapter="a", adapter_versions={}, spec_version="lockstep/v1", suite_version="1.0.0", seed=0,
                         examples=2, levels=[1], dtypes=["float32", "float64"], devices=["cpu"], environment={},
                         checks=checks)


def test_junit_of_a_certification_where_nothing_ran_is_an_error() -> None:
    cert = _cert("unsupported", "unsupported")
    assert not cert.certified
    root = ET.fromstring(junit_xml(cert))
    assert root.get("errors") == "1" and root.get("failures") == "0" and root.get("skipped") == "2"
    assert root.get("tests") == "3"
    errors = root.findall(".//testcase/error")
    assert len(errors) == 1 and errors[0].get("message").startswith("no check ran: all 2 checks asked are unsupported")
    for suite in root.findall("testsuite"):  # each suite's counts agree with its cases
        cases = suite.findall("testcase")
        assert suite.get("tests") == str(len(cases))
        assert suite.get("errors") == str(sum(c.find("error") is not None for c in cases))


def test_junit_of_a_certification_without_checks_is_an_error() -> None:
    root = ET.fromstring(junit_xml(_cert()))
    assert root.get("errors") == "1" and "nothing was planned" in root.find(".//testcase/error").get("message")


def test_junit_where_a_check_ran_has_no_such_case() -> None:
    root = ET.fromstring(junit_xml(_cert("pass", "unsupported")))
    assert root.get("errors") == "0" and root.get("tests") == "2" and not root.findall(".//error")
