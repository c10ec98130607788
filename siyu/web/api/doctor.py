"""``/api/v1/wecom/doctor``: the setup check (``siyu wecom doctor``) over HTTP, for admins.

It is setup, not a report: owners and admins run it; operators and staff users get a 403
that says so (ask an admin).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from siyu.models import Workspace
from siyu.web.api.common import ERRORS
from siyu.web.auth import CurrentUser, DbSession, PermissionDenied, Principal
from siyu.wecom import doctor

router = APIRouter(prefix="/api/v1/wecom", tags=["wecom"], responses=ERRORS)
SETUP_ROLES = ("owner", "admin")
REFUSED = (
    "the WeCom setup check (接入检查) is for admins: it reads the app's secrets and callback; "
    "ask an admin to run it (`siyu wecom doctor`)"
)


async def setup_user(user: CurrentUser) -> Principal:
    """Owners and admins; anyone else gets a 403 naming who may run the check."""
    if user.role not in SETUP_ROLES:
        raise PermissionDenied(f"your role '{user.role}' may not run it: {REFUSED}")
    return user


@router.get("/doctor", summary="WeCom setup check")
def run_doctor(db: DbSession, user: Annotated[Principal, Depends(setup_user)]) -> dict[str, Any]:
    """Every check now (calls WeCom): secrets per API family, trusted IP, callback, pool
    members' permission, welcomes, sidebar domain, archive; ``status`` is the worst one."""
    ws = db.get(Workspace, user.workspace_id)
    assert ws is not None
    checks = doctor.run_checks(db, ws)
    return {"status": doctor.summary(checks), "checks": [c.as_dict() for c in checks]}
