"""The API's fuzzing (test_fuzz.py) applied to the customer pages (portal/), on the real
server: every operation of the portal's own OpenAPI description (made from its routes;
the server does not publish it) gets generated requests, valid and schema-breaking, with
no sign-in — none may get a 5xx, every answer must be as documented (status, content
type), and no page may carry back a generated value as live markup.

The rate limit is set out of reach here (test_portal.py holds it to its number), and each
request carries this browser's form token in the cookie and, half the time, in the form
(the other half it is generated), so the fuzzing reaches the service's own checks and
files real cases, not only the form-token refusal.
"""

from __future__ import annotations

import re

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    positive_data_acceptance,
)

from portal.app import portal_app

API_SETTINGS = {"portal_rate_limit": 1_000_000, "portal_answer_score": 0.0}
EXAMPLES = 30
FORM = "fuzz-form-token-0123456789"
LIVE = re.compile(r"<(script|img|iframe|svg)[^>]*?(onerror|onload|src=.?javascript)", re.I)


def test_no_server_error_and_every_page_as_documented(api_server):
    schema = schemathesis.openapi.from_dict(portal_app(api_server.desk).openapi())
    base = f"{api_server.url}/portal"
    headers = {"Cookie": f"kf_form={FORM}", "Accept-Language": "zh-CN"}
    failures, operations, calls = [], 0, [0]
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                      database=None, suppress_health_check=list(HealthCheck))
            def run(case) -> None:
                calls[0] += 1
                if isinstance(case.body, dict) and calls[0] % 2:
                    case.body["form_token"] = FORM
                response = case.call(base_url=base, headers=headers, allow_redirects=False)
                excluded = [positive_data_acceptance]
                if response.status_code == 413:  # the size cap: a refusal the check omits
                    excluded.append(negative_data_rejection)
                case.validate_response(response, excluded_checks=excluded, headers=headers)
                assert not LIVE.search(response.text), response.text[:500]

            try:
                run()
            except Unsatisfiable:
                continue
            except (Exception, BaseExceptionGroup) as exc:
                failures.append(f"{operation.label} [{mode.value}]: {str(exc).strip()[:1500]}")
    print(f"\nfuzzed {operations} portal operations with {calls[0]} requests")
    assert operations >= 6
    assert not failures, "\n\n".join(failures)
