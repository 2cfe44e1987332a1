"""The demo page `/demo/`: a few ad slots, each reporting its impression through the pixel.

Each page view draws SLOTS ads from CATALOGUE and gives every slot a fresh event id (UUID4,
made here on the server) in its pixel URL, so one view is one impression per slot, and a reload
is another; slot N is the placement `demo-slot-N` (contract v2). The visitor's user id lives in
a first-party cookie (DEMO_USER_COOKIE), set here when missing. The page has no JavaScript and
loads nothing from another origin: the pixel is a plain `<img>`, so it works under
`Content-Security-Policy: script-src 'self'`.
"""

from __future__ import annotations

import random
import re
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache

from impressions.event_ids import new_event_id
from impressions.pixel import DEMO_USER_COOKIE

SLOTS = 4
COOKIE_MAX_AGE_SECONDS = 365 * 24 * 60 * 60
_COOKIE_VALUE = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class DemoAd:
    ad_id: str
    name: str
    kind: str

    @property
    def image(self) -> str:
        """The creative's path under the static files."""
        return f"impressions/demo/{self.ad_id}.svg"


CATALOGUE = (
    DemoAd("demo-ad-01", "Nimbus", "Wireless headphones"),
    DemoAd("demo-ad-02", "Terra", "Trail boots"),
    DemoAd("demo-ad-03", "Lumen", "Desk lamp"),
    DemoAd("demo-ad-04", "Harbor", "Coffee roasters"),
    DemoAd("demo-ad-05", "Atlas", "Everyday backpack"),
    DemoAd("demo-ad-06", "Pulse", "Fitness watch"),
)


@dataclass(frozen=True)
class Slot:
    ad: DemoAd
    event_id: str
    pixel_url: str


def new_user_id() -> str:
    return f"visitor-{secrets.token_hex(8)}"


def slots_for(user_id: str, *, count: int = SLOTS) -> list[Slot]:
    """`count` different ads, each with its own fresh event id and pixel URL."""
    pixel = reverse("pixel")
    slots = []
    for position, ad in enumerate(random.sample(CATALOGUE, count), start=1):
        event_id = str(new_event_id(timezone.now()))
        # Each slot is a placement (contract v2), so the dashboard can filter by it.
        given = {"ad_id": ad.ad_id, "event_id": event_id, "user_id": user_id}
        query = urlencode({**given, "placement": f"demo-slot-{position}"})
        slots.append(Slot(ad=ad, event_id=event_id, pixel_url=f"{pixel}?{query}"))
    return slots


@never_cache  # every view must reach the server: fresh event ids, fresh impressions
def demo(request: HttpRequest) -> HttpResponse:
    user_id = request.COOKIES.get(DEMO_USER_COOKIE, "")
    cookie_missing = _COOKIE_VALUE.fullmatch(user_id) is None
    if cookie_missing:
        user_id = new_user_id()
    response = TemplateResponse(
        request,
        "impressions/demo.html",
        {
            "slots": slots_for(user_id),
            "user_id": user_id,
            "cookie_name": DEMO_USER_COOKIE,
            "catalogue_size": len(CATALOGUE),
        },
    )
    if cookie_missing:
        response.set_cookie(
            DEMO_USER_COOKIE,
            user_id,
            max_age=COOKIE_MAX_AGE_SECONDS,
            samesite="Lax",
            httponly=True,  # only the server reads it (no JavaScript on the page)
            secure=request.is_secure(),
        )
    return response
