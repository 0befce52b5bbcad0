"""Assistant API: analyse a message; reply to a customer (reply, sources, guard verdict, hand-off)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from brokercare.assistant import schemas, service
from brokercare.security.auth import current_user
from brokercare.security.models import User

router = APIRouter(prefix="/assistant", tags=["assistant"])


@router.post("/analyze", response_model=schemas.AnalyzeResponse,
             summary="Intent (top-3 with confidence), emotion and intensity, entities of one message")
def analyze(body: schemas.AnalyzeRequest, _: User = Depends(current_user)) -> dict:
    return service.analyze(body.text).as_dict()
