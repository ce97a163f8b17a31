"""Sign-in and sign-out.

The password is checked the way the platform checks it: the ``user_management.login``
command, its password sealed, through the bus, waited for (with ``/public/login``'s rate
limit). Its access token is opened only to learn who signed in; neither token is kept.
A user whose roles do not hold ``dead_letters:read`` (operators, admins) is refused.
"""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api_gateway.admission import Policy
from api_gateway.bodies import validate
from api_gateway.commands import new_command, services_of
from api_gateway.console.bus import run_waited
from api_gateway.console.sessions import (
    COOKIE,
    SIGNIN_COOKIE,
    clear_cookie,
    csrf_matches,
    set_cookie,
)
from api_gateway.console.web import console_sessions, error_page, is_tls, page, render
from api_gateway.handover import hand_over
from api_gateway.rate_limits import parse_limits
from core.command_state import CommandDocument
from core.security import TokenType
from events import Actor, CommandStatus, Forbidden, InvalidInput, Unauthorized
from events.platform_commands import READ_DEAD_LETTERS
from events.sensitive import sensitive_fields
from modules.user_management.models import LoginRequest

LOGIN = "user_management.login"
SIGNIN_POLICY = Policy(
    "console.signin", auth=False, rate_limit=parse_limits("10/minute", "sign-in")
)
SIGNIN_FORM_TTL_S = 3600


@page
async def signin_form(request: Request) -> Response:
    token = secrets.token_urlsafe(32)
    response = render(request, "signin.html", {"csrf": token, "email": ""})
    set_cookie(response, SIGNIN_COOKIE, token, SIGNIN_FORM_TTL_S, secure=is_tls(request))
    return response


@page
async def signin(request: Request) -> Response:
    services = services_of(request)
    caller = await services.gate.admit(request, SIGNIN_POLICY)
    form = await request.form()
    if not csrf_matches(request.cookies.get(SIGNIN_COOKIE, ""), form.get("csrf")):
        raise Forbidden("csrf: the sign-in form's token does not match; reload the page")
    email = str(form.get("email", ""))
    payload = validate(LoginRequest, {"email": email, "password": form.get("password", "")})
    command = new_command(request, LOGIN, payload, Actor(), sensitive_fields(LoginRequest))
    try:
        document = await run_waited(request, command, caller.identity)
        actor = await _signed_in(request, document)
    except (Unauthorized, Forbidden, InvalidInput) as e:
        again = render(
            request,
            "signin.html",
            {"csrf": form.get("csrf"), "email": email, "error": e.detail},
            e.status,
        )
        return again
    assert actor.user_id is not None
    session_id, _ = await console_sessions(request).open(actor.user_id, email, actor.roles)
    response = RedirectResponse("/console/", status_code=303)
    secure = is_tls(request)
    set_cookie(response, COOKIE, session_id, console_sessions(request).ttl_s, secure=secure)
    clear_cookie(response, SIGNIN_COOKIE, secure=secure)
    return response


async def _signed_in(request: Request, document: CommandDocument) -> Actor:
    """The user the login's access token names, with its roles, if they may use the
    console."""
    services = services_of(request)
    if document.status is not CommandStatus.SUCCEEDED or document.result is None:
        detail = document.error.detail if document.error else None
        raise Unauthorized(detail or "the email or the password is wrong")
    revealed = await hand_over(services, document)
    body = revealed.result.body if revealed.result else None
    if not isinstance(body, dict) or "access_token" not in body:
        raise Unauthorized("the login answered without a token; try again")
    claims = services.tokens.verify(body["access_token"], TokenType.ACCESS)
    actor = Actor(user_id=claims.subject, roles=claims.roles)
    if READ_DEAD_LETTERS not in services.roles.permissions_of(actor):
        raise Forbidden("the console is for operators and admins (hookline admin grant)")
    return actor


@page
async def signout(request: Request) -> Response:
    form = await request.form()
    sessions = console_sessions(request)
    session = await sessions.find(request.cookies.get(COOKIE))
    if session is not None and not csrf_matches(session.csrf, form.get("csrf")):
        return error_page(request, 403, "Forbidden", "csrf: the form's token does not match")
    await sessions.close(request.cookies.get(COOKIE))
    response = RedirectResponse("/console/signin", status_code=303)
    clear_cookie(response, COOKIE, secure=is_tls(request))
    return response
