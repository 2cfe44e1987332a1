"""The dead-letter page's "Fix and replay" form for one dead letter: the stored value as
editable text, validated by the consumer's contract on submit and, when valid, published by
services.dead_letter_replay_fixed. Thin: the rules live in the service. Needs the same
`stats.change_deadletter` permission as the list's actions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django import forms
from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from impressions.contract import ContractError
from stats import dead_letter_services as services
from stats.kafka_admin import BrokerUnavailable
from stats.models import DeadLetter

if TYPE_CHECKING:
    from stats.dead_letter_admin import DeadLetterAdmin


class FixForm(forms.Form):
    value = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 12, "cols": 90, "spellcheck": "false"}),
        strip=False,
        help_text="One event as JSON, as the API publishes it (contract v2; v1 is read too). "
        "It is checked like the consumer checks records before anything is sent.",
    )


def editable_text(value: bytes | memoryview | None) -> tuple[str, bool]:
    """The value as text to edit, and whether it was not UTF-8 (invalid bytes become U+FFFD)."""
    raw = b"" if value is None else bytes(value)
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="replace"), True


def fix_view(model_admin: DeadLetterAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    """GET: the form, prefilled with the letter's fixed copy if it has one, else its value.
    POST: replay the edited value (then back to the detail page) or re-show the form with
    the contract's reason."""
    if not model_admin.has_triage_permission(request):
        raise PermissionDenied
    letter = model_admin.get_object(request, unquote(object_id))
    if letter is None:
        raise Http404(f"no dead letter {object_id}")
    shown = letter.fixed_value if letter.fixed_value is not None else letter.value
    text, not_utf8 = editable_text(shown)
    form = FixForm(request.POST if request.method == "POST" else None, initial={"value": text})
    if form.is_bound and form.is_valid():
        value = form.cleaned_data["value"].encode("utf-8")
        try:
            services.dead_letter_replay_fixed(letter=letter, value=value, user=request.user)
        except ContractError as exc:
            form.add_error("value", f"Not replayed: {exc.reason()}")
        except (services.NotReplayable, BrokerUnavailable) as exc:
            form.add_error(None, f"Not replayed: {exc}")
        else:
            model_admin.message_user(
                request, f"Replayed a fixed copy of {letter} to {letter.source_topic}.",
                messages.SUCCESS,
            )  # fmt: skip
            return HttpResponseRedirect(reverse("admin:stats_deadletter_change", args=[letter.pk]))
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Fix and replay {letter}",
        "opts": model_admin.model._meta,
        "letter": letter,
        "form": form,
        "showing_fixed": letter.fixed_value is not None,
        "not_utf8": not_utf8,
        "original_key": services.usable_key(letter.key),
        "discarded": letter.status == DeadLetter.Status.DISCARDED,
    }
    return TemplateResponse(request, "admin/stats/deadletter/fix.html", context)
