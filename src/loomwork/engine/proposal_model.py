"""A waiting proposal as a draft's `form_state.proposals` lists it (API.md section 4).

Its own module, so the draft service can render one proposal alone exactly as the response
model renders it inside a draft response (a stored reply is spliced from these, see drafts.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class Proposal(BaseModel):
    idempotency_key: str
    proposal_id: uuid.UUID | None = Field(None, description="The proposal's id in the review queue.")
    actor_name: str
    via_agent: bool
    created_at: datetime
    changes: dict[str, Any] = Field(description="The fields the proposal would set, as it sent them (a key masked).")
