"""Your routers: mount them on `router`, which `api/v1/router.py` mounts under /api/v1.

copier writes this file once, and `copier update` leaves it as you made it: what you mount
here never conflicts with the template's own routes (the README, "Adding a resource").
"""

from fastapi import APIRouter

router = APIRouter()
