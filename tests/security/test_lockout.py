"""The attack on logins: parallel guessing, probing which usernames exist, common passwords."""

from __future__ import annotations

import threading

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from brokercare.core.errors import AuthenticationFailed, ValidationFailed
from brokercare.ledger.models import LedgerEntry
from brokercare.security.auth import use_password_hasher
from brokercare.security.models import User
from brokercare.security.service import LOCK_AFTER, authenticate, create_user, set_password

from .conftest import PASSWORD


class CountingHasher(PasswordHasher):
    """argon2id that counts the verifications made against one stored hash (the guesses the
    server actually checked), not the decoy verifications of refused attempts."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.target: str | None = None
        self.checked = 0
        self._lock = threading.Lock()

    def verify(self, hash, password):  # argon2's own signature
        if hash == self.target:
            with self._lock:
                self.checked += 1
        return super().verify(hash, password)


def test_twenty_parallel_wrong_passwords_check_five_and_lock_once(engine, session, brokerage):
    hasher = CountingHasher()
    previous = use_password_hasher(hasher)
    try:
        victim = brokerage["users"]["compliance"]
        hasher.target = victim.password_hash
        start = threading.Barrier(20)
        answers: list[str] = []

        def guess(n: int) -> None:
            with Session(engine) as s:
                start.wait()
                try:
                    authenticate(s, "compliance01", f"Guess-{n:04d}x")
                    answers.append("in")
                except AuthenticationFailed as exc:
                    answers.append(exc.detail)

        threads = [threading.Thread(target=guess, args=(n,)) for n in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(answers) == 20 and "in" not in answers
        assert hasher.checked == LOCK_AFTER
        session.expire_all()
        locks = session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "auth.locked")).all()
        assert [e.subject for e in locks] == [f"user:{victim.id}"]
        assert session.get(User, victim.id).locked_until is not None
        with pytest.raises(AuthenticationFailed):  # the right password too, while locked
            authenticate(session, "compliance01", PASSWORD)
        assert hasher.checked == LOCK_AFTER
    finally:
        use_password_hasher(previous)


def test_unknown_user_wrong_password_and_locked_get_one_answer(session, brokerage):
    def answer(username: str, password: str) -> str:
        with pytest.raises(AuthenticationFailed) as exc:
            authenticate(session, username, password)
        return exc.value.detail

    unknown = answer("no_such_user", "Whatever-2026")
    wrong = answer("agent01", "Whatever-2026")
    for _ in range(LOCK_AFTER):
        answer("advisor01", "Whatever-2026")
    locked = answer("advisor01", PASSWORD)
    assert unknown == wrong == locked


@pytest.mark.parametrize("password", ["password1", "qwerty123", "woaini1314", "qq123456", "Abc12345"])
def test_common_and_breached_passwords_are_refused(session, brokerage, password):
    with pytest.raises(ValidationFailed, match="常见"):
        create_user(session, username="agent09", password=password, role="agent", display_name="何静")
    with pytest.raises(ValidationFailed):
        set_password(session, brokerage["users"]["agent"], password)
    assert session.scalar(select(func.count()).select_from(User).where(User.username == "agent09")) == 0


def test_password_containing_the_username_is_refused(session):
    with pytest.raises(ValidationFailed, match="用户名"):
        create_user(session, username="hejing", password="hejing2026x", role="agent", display_name="何静")


def test_admin_api_refuses_a_common_password(client, brokerage):
    from .conftest import login

    r = client.post("/api/v1/security/users", headers=login(client, "admin01"), json={
        "username": "agent09", "password": "password1", "role": "agent", "display_name": "何静"})
    assert r.status_code == 422 and "常见" in r.json()["detail"]
