"""Masking of personal data for views that are not cleared to see it whole."""

from __future__ import annotations


def _keep(value: str, head: int, tail: int) -> str:
    if len(value) <= head + tail:
        return "*" * len(value)
    return value[:head] + "*" * (len(value) - head - tail) + value[len(value) - tail :]


def mask_id_number(value: str) -> str:
    """``110105199003071234`` → ``110***********1234``."""
    return _keep(value, 3, 4)


def mask_phone(value: str) -> str:
    """``13812345678`` → ``138****5678``."""
    return _keep(value, 3, 4)


def mask_bank_card(value: str) -> str:
    """``6222021234567891234`` → ``622202*********1234`` (bank BIN and last four kept)."""
    return _keep(value, 6, 4)


def mask_address(value: str) -> str:
    """Keep the first six characters (province and city), hide the street and number."""
    return value[:6] + "****" if len(value) > 6 else "****"


def mask_name(value: str) -> str:
    """``张三丰`` → ``张**``."""
    return value[:1] + "*" * (len(value) - 1) if value else value


MASKERS = {
    "id_number": mask_id_number,
    "phone": mask_phone,
    "bank_card": mask_bank_card,
    "address": mask_address,
    "name": mask_name,
}
