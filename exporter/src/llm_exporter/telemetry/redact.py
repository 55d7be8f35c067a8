"""Redaction of personal data and secrets in free text, and content digests for prompts.

Prompts and completions are never logged; callers log `digest()` (length and SHA-256) instead, and
an opt-in preview goes through `preview()`: redacted first, then truncated, so a cut can never
leave half of an e-mail address or key unredacted.

Each rule is a regular expression for candidates plus, where a pattern alone is too loose, a
validator: payment cards must pass the Luhn check and start like a real card number, IPv6
candidates must parse as an address, phone numbers must have a plausible digit count, a
credential after "Bearer"/"Basic" must look like one (or follow an Authorization header). The
order matters: secrets first (they contain digits that look like phone or card numbers), then
e-mail, card, SSN, phone, IPv6, IPv4.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import json
import re
from collections.abc import Callable
from dataclasses import dataclass


def _marker(kind: str) -> str:
    return f"[REDACTED:{kind}]"


def luhn_valid(digits: str) -> bool:
    """True when the digit string passes the Luhn checksum (used by every payment card)."""
    if not digits.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


# Issuer prefixes (IIN ranges) of the card networks, with the lengths they issue.
_CARD_PREFIXES = (
    (re.compile(r"4"), (13, 16, 19)),  # Visa
    (re.compile(r"5[1-5]|2(?:22[1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720)"), (16,)),  # Mastercard
    (re.compile(r"3[47]"), (15,)),  # American Express
    (re.compile(r"3(?:0[0-5]|[68])"), (14, 16, 19)),  # Diners Club
    (re.compile(r"6(?:011|5|4[4-9]|22)"), (16, 19)),  # Discover, UnionPay co-branded
    (re.compile(r"62"), (16, 17, 18, 19)),  # UnionPay
    (re.compile(r"35(?:2[89]|[3-8]\d)"), (16, 19)),  # JCB
)


def _is_card(match: re.Match[str]) -> bool:
    digits = re.sub(r"[ -]", "", match.group(0))
    if not luhn_valid(digits):
        return False
    return any(prefix.match(digits) and len(digits) in lengths for prefix, lengths in _CARD_PREFIXES)


def _is_phone(match: re.Match[str]) -> bool:
    return 10 <= sum(c.isdigit() for c in match.group(0)) <= 15


# `Authorization: `, `authorization=`, `"Authorization": "` right before the scheme.
_AUTH_HEADER_BEFORE = re.compile(r"(?i)\bauthorization[\"']?\s*[:=]\s*[\"']?$")


def _after_auth_header(match: re.Match[str]) -> bool:
    return bool(_AUTH_HEADER_BEFORE.search(match.string, max(0, match.start() - 40), match.start()))


def _is_bearer_token(match: re.Match[str]) -> bool:
    """After an Authorization header any 8+ characters are a token; elsewhere 12+ that look opaque
    (a digit, or a run of 20+ letters: no English word is that long), so "bearer certificates"
    and "bearer of 2024-01-15" stay prose."""
    token = match.group(1)
    if _after_auth_header(match):
        return True
    if len(token) < 12:
        return False
    return any(c.isdigit() for c in token) or re.fullmatch(r"[A-Za-z]{20,}=*", token.rstrip(".")) is not None


def _is_basic_credentials(match: re.Match[str]) -> bool:
    """After an Authorization header anything is credentials; elsewhere only base64 that decodes
    to printable `user:password`, so "Basic authentication" and "basic arithmetic" stay."""
    if _after_auth_header(match):
        return True
    token = match.group(1)
    if len(token) % 4:
        return False
    try:
        decoded = base64.b64decode(token, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return ":" in decoded and decoded.isprintable()


def _is_ipv6(match: re.Match[str]) -> bool:
    text = match.group(0)
    if text.count(":") < 2 or not any(c.isalnum() for c in text):
        return False
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Rule:
    kind: str
    pattern: re.Pattern[str]
    validate: Callable[[re.Match[str]], bool] | None = None
    group: int = 0  # 0: replace the whole match; n: replace only group n (the secret after "key=")

    def apply(self, text: str) -> str:
        def replace(match: re.Match[str]) -> str:
            if self.validate is not None and not self.validate(match):
                return match.group(0)
            if self.group == 0:
                return _marker(self.kind)
            start, end = match.span(self.group)
            offset = match.start(0)
            whole = match.group(0)
            return whole[: start - offset] + _marker(self.kind) + whole[end - offset:]

        return self.pattern.sub(replace, text)


_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"

RULES: tuple[Rule, ...] = (
    # Bearer tokens (RFC 6750 token68 after "Bearer") and HTTP Basic credentials (base64 of
    # user:password after "Basic"): only the credential is replaced.
    Rule("bearer_token", re.compile(r"(?i)\bbearer\s+([A-Za-z0-9\-._~+/]{8,}=*)"), _is_bearer_token, group=1),
    Rule("basic_auth", re.compile(r"(?i)\bbasic\s+([A-Za-z0-9+/]{4,}={0,2})(?![A-Za-z0-9+/=_-])"),
         _is_basic_credentials, group=1),
    # JSON Web Tokens: three base64url parts, the first two starting with '{"' encoded.
    Rule("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}")),
    # Provider keys: OpenAI / Anthropic (sk-, sk-proj-, sk-ant-), AWS access key ids, GitHub,
    # Slack, Google API keys, Stripe-style live/test keys.
    Rule("api_key", re.compile(
        r"(?<![A-Za-z0-9_-])(?:"
        r"sk-(?:proj-|ant-(?:api\d\d-)?)?[A-Za-z0-9_-]{20,}"
        r"|(?:AKIA|ASIA)[0-9A-Z]{16}"
        r"|gh[pousr]_[A-Za-z0-9]{36,}"
        r"|github_pat_[A-Za-z0-9_]{22,}"
        r"|xox[abposr]-[A-Za-z0-9-]{10,}"
        r"|AIza[0-9A-Za-z_-]{35}"
        r"|(?:rk|pk|sk)_(?:live|test)_[A-Za-z0-9]{16,}"
        r")(?![A-Za-z0-9_-])"
    )),
    # Generic "api_key=...", "password: ...", "secret=..." assignments: only the value goes.
    Rule("secret", re.compile(
        r"(?i)\b(?:api[_-]?key|apikey|access[_-]?key(?:[_-]?id)?|secret(?:[_-]?key)?|client[_-]?secret"
        r"|auth[_-]?token|access[_-]?token|refresh[_-]?token|token|password|passwd)"
        r"[\"']?\s*[:=]\s*[\"']?([^\s\"',;&}]{6,})"
    ), group=1),
    Rule("email", re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,24}(?![\w-])")),
    # 13-19 digits: unbroken, or in groups of four (Visa/MC style), or 4-6-5 (Amex).
    Rule("card", re.compile(
        r"(?<![\w-])(?:\d{13,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{1,7}|\d{4}([ -])\d{6}\2\d{4,5})(?![\w-])"
    ), _is_card),
    # US social security numbers, dashed, without the never-issued area/group/serial values.
    Rule("ssn", re.compile(r"(?<![\w-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\w-])")),
    # Phone numbers: North American 3-3-4 with separators (optionally +1 / (area)), or any
    # international number written with a leading + and 10-15 digits.
    Rule("phone", re.compile(
        r"(?<![\w+-])(?:"
        r"(?:\+?1[ .-]?)?(?:\(\d{3}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{4}"
        r"|\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}"
        r")(?![\w-])"
    ), _is_phone),
    Rule("ipv6", re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|" + _OCTET +
                            r"(?:\." + _OCTET + r"){3})?(?![\w:]|\.\d)"), _is_ipv6),
    # IPv4 addresses, but not one four-part run inside a longer dotted string (versions, OIDs).
    Rule("ipv4", re.compile(r"(?<![\w.])" + _OCTET + r"(?:\." + _OCTET + r"){3}(?![\w]|\.\d)")),
)


def redact(text: str) -> str:
    """`text` with every match of the rules replaced by a `[REDACTED:<kind>]` marker."""
    for rule in RULES:
        text = rule.apply(text)
    return text


def content_text(content: object) -> str:
    """A prompt or completion as text: strings as they are, anything else (a list of chat
    messages, say) as canonical JSON, so the same content always hashes the same."""
    if isinstance(content, str):
        return content
    return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def digest(content: object) -> tuple[int, str]:
    """(length in characters, SHA-256 hex) of a prompt or completion: what the logs carry."""
    text = content_text(content)
    return len(text), hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def preview(content: object, max_chars: int) -> str:
    """Redacted, then truncated to `max_chars` characters (an ellipsis marks a cut)."""
    text = redact(content_text(content))
    if len(text) <= max_chars:
        return text
    return text[:max_chars] + "…"
