"""Properties that hold for any input (hypothesis): label values are always safe and bounded,
and personal data or secrets never survive redaction, whatever text surrounds them."""

from __future__ import annotations

import math
import re

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from llm_exporter.config import Budgets, load_pricing
from llm_exporter.labels import MAX_LENGTH, OVERFLOW_VALUE, LabelGuard, sanitise
from llm_exporter.recorder import LLMCall, Recorder
from llm_exporter.telemetry.redact import preview, redact
from tests.adversarial.figures import scaled
from tests.support.processes import CONFIG_DIR

SAFE_LABEL = re.compile(rf"[A-Za-z0-9_.:/@+-]{{1,{MAX_LENGTH}}}")
EXAMPLES = settings(max_examples=scaled(300, 5000), deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
ANYTHING = st.one_of(st.text(), st.binary(), st.integers(), st.floats(allow_nan=True), st.none(), st.booleans())
PRICING = load_pricing(CONFIG_DIR / "pricing.yaml")


@EXAMPLES
@given(ANYTHING)
def test_sanitised_label_values_are_short_printable_and_stable(raw: object) -> None:
    clean = sanitise(raw)
    assert SAFE_LABEL.fullmatch(clean), clean
    assert sanitise(clean) == clean


@EXAMPLES
@given(st.lists(st.tuples(st.sampled_from(["model", "app_id"]), st.text(max_size=80)), max_size=300),
       st.integers(min_value=1, max_value=20))
@example([("model", "a"), ("model", "other"), ("model", "b")], 1)  # a model really named "other"
def test_label_guard_bounds_distinct_values_and_counts_each_overflow_once(values: list[tuple[str, str]],
                                                                        bound: int) -> None:
    """Against a plain model of the rule: the first `bound` distinct sanitised values are kept,
    any later new one is "other" and counted once; a look-up with count=False never counts."""
    guard = LabelGuard({"model": bound, "app_id": bound})
    kept: dict[str, set[str]] = {"model": set(), "app_id": set()}
    overflowed = {"model": 0, "app_id": 0}
    for label, raw in values:
        clean = sanitise(raw)
        if clean in kept[label] or len(kept[label]) < bound:
            kept[label].add(clean)
            expected = clean
        else:
            expected = OVERFLOW_VALUE
            overflowed[label] += 1
        assert guard.value(label, raw) == expected
        assert guard.value(label, raw, count=False) == expected  # a second look at the same call
    for label in kept:
        assert len(kept[label]) <= bound
        assert guard.overflow_counts().get(label, 0) == overflowed[label]


CALL = st.builds(
    LLMCall,
    provider=st.text(max_size=30), model=st.text(max_size=100), app_id=st.text(max_size=100),
    department=st.text(max_size=30),
    duration_s=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10**6), st.text(max_size=3)),
    input_tokens=st.one_of(st.integers(-10, 10**9), st.floats(allow_nan=True)),
    output_tokens=st.one_of(st.integers(-10, 10**9), st.floats(allow_nan=True)),
    ttft_s=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
    error_type=st.one_of(st.none(), st.text(max_size=20), st.sampled_from(["timeout", "rate_limit"])),
    quality_score=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
    feedback=st.one_of(st.none(), st.text(max_size=10), st.sampled_from(["positive", "negative"])),
)


@settings(max_examples=scaled(60, 1000), deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(st.lists(CALL, max_size=60))
def test_any_recorded_calls_give_a_valid_bounded_exposition(calls: list[LLMCall]) -> None:
    recorder = Recorder(PRICING, Budgets(departments={}), mode="mock", version="test",
                        guard=LabelGuard({"model": 5, "app_id": 5}), max_label_sets=8)
    for call in calls:
        recorder.record(call)
    text = generate_latest(recorder).decode()
    label_sets = set()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            assert not math.isnan(sample.value) or family.name == "llm_quality_score"
            if sample.name == "llm_requests_total":
                label_sets.add(tuple(sample.labels[k] for k in ("provider", "model", "app_id", "department")))
            for name, value in sample.labels.items():
                if name in ("provider", "model", "app_id", "department"):
                    assert SAFE_LABEL.fullmatch(value), value
    assert len(label_sets) <= 8 + 1  # max_label_sets, plus the shared all-"other" set


# Secrets and personal data as they commonly appear; the surrounding text is anything at all.
EMAIL = st.from_regex(r"[a-z0-9][a-z0-9._%+-]{0,15}@[a-z0-9]{1,10}\.(com|org|net|io)", fullmatch=True)
API_KEY = st.one_of(st.from_regex(r"sk-(proj-)?[A-Za-z0-9]{24,40}", fullmatch=True),
                    st.from_regex(r"AKIA[0-9A-Z]{16}", fullmatch=True),
                    st.from_regex(r"ghp_[A-Za-z0-9]{36}", fullmatch=True))


@st.composite
def visa(draw: st.DrawFn) -> str:
    digits = [4] + [draw(st.integers(0, 9)) for _ in range(14)]
    total = sum(d if i % 2 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(reversed(digits)))
    return "".join(map(str, digits)) + str((10 - total % 10) % 10)


TOKEN = st.from_regex(r"[A-Za-z0-9._~+/-]{8,40}", fullmatch=True)
# (the secret, as it is written in the text)
SECRET = st.one_of(EMAIL.map(lambda s: (s, s)), API_KEY.map(lambda s: (s, s)), visa().map(lambda s: (s, s)),
                   TOKEN.map(lambda t: (t, f"Authorization: Bearer {t}")))
SEPARATOR = st.sampled_from([" ", "\n", "\t", ", ", " (", ") ", ": "])


@EXAMPLES
@given(st.text(max_size=60), SEPARATOR, SECRET, SEPARATOR, st.text(max_size=60))
def test_secrets_never_survive_redaction(before: str, left: str, secret: tuple[str, str], right: str,
                                         after: str) -> None:
    value, written = secret
    text = before + left + written + right + after
    assert value not in redact(text), text
    for limit in (5, len(text) // 2, len(text)):
        assert value not in preview(text, limit)


def test_an_absurd_token_count_never_breaks_the_exposition() -> None:
    """Found by the property above at full scale: two calls of 1e308 tokens summed past what a
    float holds, and every later scrape failed. Counts above MAX_TOKENS are invalid, not summed."""
    recorder = Recorder(PRICING, Budgets(departments={}), mode="mock", version="test")
    for tokens in (1e308, 10**400, 1e308):
        recorder.record(LLMCall(provider="p", model="m", app_id="a", department="d", duration_s=1.0,
                                input_tokens=tokens, output_tokens=tokens))  # type: ignore[arg-type]
    text = generate_latest(recorder).decode()
    assert 'llm_invalid_values_total{field="input_tokens"} 3.0' in text
