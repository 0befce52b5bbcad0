"""The OpenAPI description declares the errors each operation can answer with."""

from __future__ import annotations

from fastapi import Depends, FastAPI
from fastapi.security import OAuth2PasswordBearer
from pydantic import BaseModel

from brokercare.core.problems import declare_errors, errors

bearer = OAuth2PasswordBearer(tokenUrl="/login")


class TicketIn(BaseModel):
    contact_id: int
    subject: str


class NoteIn(BaseModel):
    text: str


def _spec() -> dict:
    app = FastAPI()

    @app.get("/health")
    def health() -> dict:
        return {}

    @app.post("/tickets", responses=errors({409: "the contact already has this ticket open"}))
    def open_ticket(body: TicketIn, token: str = Depends(bearer)) -> dict:
        return {}

    @app.post("/notes")
    def note(body: NoteIn, token: str = Depends(bearer)) -> dict:
        return {}

    @app.get("/tickets/{ticket_id}")
    def ticket(ticket_id: int, token: str = Depends(bearer)) -> dict:
        return {}

    return declare_errors(app.openapi())


def test_errors_follow_from_what_the_operation_says():
    paths = _spec()["paths"]
    assert set(paths["/health"]["get"]["responses"]) == {"200"}
    # Signed in, names a contact in its body, takes input, and its own 409 is kept.
    assert set(paths["/tickets"]["post"]["responses"]) == {"200", "401", "403", "404", "409", "422"}
    assert set(paths["/notes"]["post"]["responses"]) == {"200", "401", "403", "422"}
    assert set(paths["/tickets/{ticket_id}"]["get"]["responses"]) == {"200", "401", "403", "404", "422"}


def test_declared_errors_are_problem_documents():
    spec = _spec()
    declared = spec["paths"]["/tickets/{ticket_id}"]["get"]["responses"]["404"]
    assert declared["content"]["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
    assert spec["components"]["schemas"]["Problem"]["required"] == ["title", "status", "detail"]
