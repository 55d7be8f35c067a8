"""Redaction rules: a table of strings that must be redacted and of look-alikes that must not."""

from __future__ import annotations

import hashlib

import pytest

from llm_exporter.telemetry.redact import digest, luhn_valid, preview, redact

# (text, the secret that must disappear, the kind named in its marker)
POSITIVE = [
    ("mail me at jane.doe+llm@example.co.uk today", "jane.doe+llm@example.co.uk", "email"),
    ("From: OPS_Team@corp-mail.example.com", "OPS_Team@corp-mail.example.com", "email"),
    ("call 555-123-4567 now", "555-123-4567", "phone"),
    ("office (415) 555-0132, ask for Sam", "(415) 555-0132", "phone"),
    ("US +1 415.555.0132", "+1 415.555.0132", "phone"),
    ("UK +44 20 7946 0958", "+44 20 7946 0958", "phone"),
    ("DE +49 30 1234567", "+49 30 1234567", "phone"),
    ("SSN 123-45-6789 on file", "123-45-6789", "ssn"),
    ("visa 4111 1111 1111 1111 exp 12/29", "4111 1111 1111 1111", "card"),
    ("card=4111-1111-1111-1111", "4111-1111-1111-1111", "card"),
    ("mc 5555555555554444", "5555555555554444", "card"),
    ("amex 3782 822463 10005", "3782 822463 10005", "card"),
    ("discover 6011111111111117.", "6011111111111117", "card"),
    ("client 192.168.1.20 connected", "192.168.1.20", "ipv4"),
    ("from 10.0.0.1.", "10.0.0.1", "ipv4"),
    ("v6 2001:db8::8a2e:370:7334 up", "2001:db8::8a2e:370:7334", "ipv6"),
    ("loopback ::1 only", "::1", "ipv6"),
    ("full fe80:0000:0000:0000:0202:b3ff:fe1e:8329", "fe80:0000:0000:0000:0202:b3ff:fe1e:8329", "ipv6"),
    ("mapped ::ffff:192.0.2.128 peer", "::ffff:192.0.2.128", "ipv6"),
    ("key sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z", "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z", "api_key"),
    ("OPENAI_API_KEY sk-abcdefghijklmnopqrstuvwxyz012345", "sk-abcdefghijklmnopqrstuvwxyz012345", "api_key"),
    ("anthropic sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWx-yz0123", "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWx-yz0123",
     "api_key"),
    ("aws AKIAIOSFODNN7EXAMPLE here", "AKIAIOSFODNN7EXAMPLE", "api_key"),
    ("gh ghp_1234567890abcdefghijklmnopqrstuvwxyzAB", "ghp_1234567890abcdefghijklmnopqrstuvwxyzAB", "api_key"),
    ("slack xoxb-123456789012-abcdefghijkl", "xoxb-123456789012-abcdefghijkl", "api_key"),
    ("google AIzaSyA1234567890abcdefghijklmnopqrstuv", "AIzaSyA1234567890abcdefghijklmnopqrstuv", "api_key"),
    ("Authorization: Bearer eyJhbGciOi.J9x2Kq7mZ-8w_1", "eyJhbGciOi.J9x2Kq7mZ-8w_1", "bearer_token"),
    ("curl -H 'authorization: bearer 0a1b2c3d4e5f6a7b8c9d'", "0a1b2c3d4e5f6a7b8c9d", "bearer_token"),
    ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnopqrstuvwxyz", "bearer_token"),
    ("retried with bearer ZyXwVuTsRqPoNmLkJiHgFeDcBa.", "ZyXwVuTsRqPoNmLkJiHgFeDcBa", "bearer_token"),
    ('{"Authorization": "Bearer abcdefghij"}', "abcdefghij", "bearer_token"),  # short, but a header
    ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA==", "basic_auth"),
    ("curl -H 'authorization: basic YWxhZGRpbjpvcGVuc2VzYW1l'", "YWxhZGRpbjpvcGVuc2VzYW1l", "basic_auth"),
    ("proxy sent Basic dXNlcjpwYXNzd29yZA== upstream", "dXNlcjpwYXNzd29yZA==", "basic_auth"),  # user:password
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
     "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "jwt"),
    ("config api_key=abc123xyz789", "abc123xyz789", "secret"),
    ('{"password": "hunter22"}', "hunter22", "secret"),
    ("export SECRET_KEY='s3cr3t-value'", "s3cr3t-value", "secret"),
    ("token: 7f9c2ba4e88f827d", "7f9c2ba4e88f827d", "secret"),
]

# Strings that look like personal data or secrets and are not: they must come back unchanged.
NEGATIVE = [
    "request 123e4567-e89b-12d3-a456-426614174000 finished",  # UUID
    "trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7",  # trace/span ids
    "order ORD-2024-000123 shipped",  # order number
    "order #1234567812345678",  # 16 digits failing the Luhn check
    "id 1234567812345670 (Luhn-valid but no card network starts with 1)",
    "invoice 9999999999999995",  # Luhn-valid, prefix 9: not a card
    "version 1.2.3.4.5 released",  # five-part version string
    "build v1.2.3.4 and 10.0.0.1.5",  # v-prefixed version, five-part dotted number
    "IP-like 256.1.2.3 and 1.2.3",  # octet out of range, three parts
    "date 2024-01-15 at 12:30:45",  # date and time
    "timestamp 2024-01-15T12:30:45.123Z",
    "MAC 00:1A:2B:3C:4D:5E",  # six groups: not an IPv6 address
    "ratio 3.14159 and 0.25",
    "SSN-like 000-12-3456 and 666-12-3456 and 123-00-4567",  # never-issued SSN values
    "part 123-45-67890 and ORD-123-45-6789",
    "call count 10, tokens 4096, max_tokens=1000",
    "12345 and 555-1234",  # too short for a phone number
    "the bearer of bad news, bearer certificates",
    "Bearer instruments are transferable; the bearer 2024-01-15 paid",
    "bearer well-known-certificate-authorities",  # hyphenated prose, no digit
    "Basic authentication is required, basic arithmetic, BASIC programs",
    "a Basic 1/2 cup and Basic abcd1234 cards",  # base64-ish but not user:password
    "skeleton sk-learn task-1234 desk-lamp",
    "AKIA alone, ghp_short, xoxb-1",
    "user@localhost and @decorator.name",
    "C++ std::vector and a::b::c",
    "password reset requested",  # the word without a value
    "temperature 72.5F, GPU 0000:3b:00.0",  # PCI bus id
]


@pytest.mark.parametrize(("text", "secret", "kind"), POSITIVE, ids=[p[2] + ":" + p[1][:24] for p in POSITIVE])
def test_redacts(text: str, secret: str, kind: str) -> None:
    out = redact(text)
    assert secret not in out, out
    assert f"[REDACTED:{kind}]" in out, out


@pytest.mark.parametrize("text", NEGATIVE)
def test_leaves_look_alikes(text: str) -> None:
    assert redact(text) == text


def test_keeps_surrounding_text() -> None:
    assert redact("mail a@b.io, call 555-123-4567.") == "mail [REDACTED:email], call [REDACTED:phone]."
    assert redact("api_key=abc123xyz789 rest") == "api_key=[REDACTED:secret] rest"
    assert redact("Authorization: Bearer 0a1b2c3d4e5f6a7b8c9d") == "Authorization: Bearer [REDACTED:bearer_token]"
    assert redact("Authorization: Basic dXNlcjpwYXNzd29yZA== ok") == "Authorization: Basic [REDACTED:basic_auth] ok"


@pytest.mark.parametrize(("digits", "valid"), [
    ("4111111111111111", True), ("4111111111111112", False), ("79927398713", True), ("79927398710", False),
    ("0", True), ("", False), ("12a4", False),
])
def test_luhn(digits: str, valid: bool) -> None:
    assert luhn_valid(digits) is valid


def test_digest_is_length_and_sha256() -> None:
    assert digest("héllo") == (5, hashlib.sha256("héllo".encode()).hexdigest())
    messages = [{"role": "user", "content": "hi"}]
    same_messages_reordered = [{"content": "hi", "role": "user"}]
    assert digest(messages) == digest(same_messages_reordered)


def test_preview_redacts_before_truncating() -> None:
    text = "contact jane.doe@example.com about card 4111 1111 1111 1111 please"
    cut = preview(text, 20)
    assert cut == "contact [REDACTED:em…"
    assert "jane" not in cut
    full = preview(text, 1000)
    assert full == "contact [REDACTED:email] about card [REDACTED:card] please"
