"""Password policy: long enough, not one of the passwords attackers try first, not the username.

NIST SP 800-63B §5.1.1.2 asks for a minimum length and a check against passwords known from
breaches rather than composition games; CSRC guidance for online trading logins asks letters and
digits mixed, which is kept. The breached list ships in ``data/common-passwords.txt.gz`` (see
``data/SOURCE.md``).
"""

from __future__ import annotations

import gzip
import re
from functools import lru_cache
from importlib import resources

from brokercare.core.errors import ValidationFailed

MIN_PASSWORD = 8
MAX_PASSWORD = 128


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    raw = resources.files("brokercare.security").joinpath("data/common-passwords.txt.gz").read_bytes()
    return frozenset(line.strip() for line in gzip.decompress(raw).decode("utf-8").splitlines() if line.strip())


def validate_password(password: str, *, username: str | None = None) -> None:
    """:class:`ValidationFailed` (Chinese, English in brackets) for a password the policy refuses."""
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed(f"密码至少 {MIN_PASSWORD} 位。(password must be at least {MIN_PASSWORD} characters)")
    if len(password) > MAX_PASSWORD:
        raise ValidationFailed(f"密码不能超过 {MAX_PASSWORD} 位。(password longer than {MAX_PASSWORD} characters)")
    if not (re.search(r"[A-Za-z]", password) and re.search(r"\d", password)):
        raise ValidationFailed("密码须同时包含字母和数字。(password must mix letters and digits)")
    lowered = password.lower()
    if lowered in common_passwords():
        raise ValidationFailed("该密码过于常见，已出现在泄露密码库中，请换一个。(password is on the common/breached list)")
    if username and len(username) >= 3 and username.strip().lower() in lowered:
        raise ValidationFailed("密码不能包含用户名。(password contains the username)")
