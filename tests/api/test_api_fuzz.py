"""Schema-driven fuzzing of the reply-gate API's OpenAPI document (schemathesis) against a real
server: valid and invalid requests for every operation, zero 5xx answers, answers that match the
documented schemas and status codes, and no request content echoed in an error."""
from __future__ import annotations

import httpx
import pytest
from hypothesis import HealthCheck, given, settings

from scanner import Store, create_app
from scanner.api import keys as apikeys
from scanner.api.app import Settings
from tests.api.test_api import live_server

EXAMPLES = {"positive": 30, "negative": 30}


@pytest.fixture(scope="module")
def fuzz_server(text_scanner, tmp_path_factory):
    home = tmp_path_factory.mktemp("fuzz")
    store = Store(f"sqlite:///{home / 'fuzz.db'}")
    key = apikeys.create(store, "fuzzer", rate_per_minute=1_000_000)
    app = create_app(store=store, scanner=text_scanner, settings=Settings(max_batch=5, max_images=3))
    with live_server(app) as base:
        yield base, key


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_fuzzing_the_openapi_document_finds_no_server_errors(fuzz_server, mode):
    import schemathesis
    from schemathesis import GenerationMode
    from schemathesis.checks import (
        content_type_conformance,
        not_a_server_error,
        response_schema_conformance,
        status_code_conformance,
    )

    base, key = fuzz_server
    headers = {"Authorization": f"Bearer {key}"}
    schema = schemathesis.openapi.from_url(base + "/openapi.json", headers=headers)
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    failures: list[str] = []
    seen: dict[str, set[int]] = {}
    operations = [op.ok() for op in schema.get_all_operations()]
    assert {op.label for op in operations} >= {"POST /v1/check", "POST /v1/batch", "GET /v1/rules", "GET /healthz"}
    def fuzz(label: str, strategy) -> None:
        @settings(max_examples=EXAMPLES[mode], deadline=None, suppress_health_check=list(HealthCheck),
                  database=None)
        @given(case=strategy)
        def run(case):
            resp = case.call(headers=headers, timeout=60)
            seen.setdefault(label, set()).add(resp.status_code)
            try:
                case.validate_response(resp, checks=checks, headers=headers)
            except Exception as exc:  # collect every kind of failure, report them together
                failures.append(f"{label} -> {resp.status_code}: {type(exc).__name__}: {str(exc)[:300]}")

        run()

    for operation in operations:
        if mode == "negative" and operation.method.upper() == "GET":
            continue  # nothing to make invalid: the GET operations take no parameters
        fuzz(operation.label, operation.as_strategy(generation_mode=GenerationMode(mode)))
    print(mode, {k: sorted(v) for k, v in seen.items()})
    assert not failures, "\n".join(failures[:10])
    assert all(code < 500 for codes in seen.values() for code in codes), seen
    if mode == "positive":  # valid items were really checked
        assert 200 in seen["POST /v1/check"] and 200 in seen["POST /v1/batch"]


def test_random_bytes_in_every_body_position_never_cause_a_5xx(fuzz_server):
    from hypothesis import strategies as st

    base, key = fuzz_server
    headers = {"Authorization": f"Bearer {key}"}
    ctypes = st.sampled_from(["application/json", "multipart/form-data; boundary=xyz", "multipart/form-data",
                              "text/plain", "application/x-www-form-urlencoded", ""])

    with httpx.Client(base_url=base, headers=headers, timeout=60) as c:
        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(path=st.sampled_from(["/v1/check", "/v1/batch"]), body=st.binary(max_size=2000), ctype=ctypes)
        def run(path, body, ctype):
            r = c.post(path, content=body, headers={"Content-Type": ctype} if ctype else {})
            assert r.status_code < 500, (path, ctype, r.status_code, r.text[:200])
            assert r.headers["content-type"].startswith("application/json")

        run()
