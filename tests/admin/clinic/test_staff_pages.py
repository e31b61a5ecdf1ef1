"""Staff pages: the list, invitations (resend, withdraw), deactivation, one's own security."""

from __future__ import annotations

import re
import uuid

import psycopg
import pytest

from tests.client import new_client
from tests.factories import ClinicFactory, StaffFactory

from .console import Console


def _rows(dsn: str, sql: str, *params) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, params).fetchall()


def _clone_session(app, console: Console):
    """A second browser of the same member: a copy of the session under a new id."""
    redis = app.extensions["similia.redis"]
    sid = console.client.get_cookie("similia_session", domain=console.host).value
    new_sid = uuid.uuid4().hex
    redis.set(f"session:{new_sid}", redis.get(f"session:{sid}"), ex=3600)
    other = new_client(app)
    other.set_cookie("similia_session", new_sid, domain=console.host)
    assert other.get("/console/", base_url=console.base).status_code == 200
    return other


def test_staff_list_shows_role_mfa_last_sign_in_and_status(app):
    """Each member's role, two-step state, last sign-in (clinic zone) and status."""
    clinic = ClinicFactory(timezone="Asia/Kolkata", country="IN")
    StaffFactory(clinic=clinic, role="receptionist", name="Ravi Desk", enrolled=False, app=app)
    console = Console(app, clinic, "admin")
    page = console.text("/console/staff")
    row = re.search(r"<tr>\s*<td>Ravi Desk.*?</tr>", page, re.S).group(0)
    assert "Not set up yet" in row and "Never" in row and "Active" in row
    me = re.search(r"<tr>\s*<td>Admin .*?</tr>", page, re.S).group(0)
    assert "On" in me and "Never" not in me and "Asia/Kolkata" in page


def test_invite_resend_and_withdraw(app, owner_dsn):
    """Resend mails a fresh link (the old one dies); withdraw ends the link at once."""
    clinic = ClinicFactory()
    console = Console(app, clinic)
    r = console.post(
        "/console/staff",
        {"name": "Dr. Ines Braun", "email": "ines@example.org", "role": "practitioner"},
        form_page="/console/staff",
        follow_redirects=True,
    )
    assert "They become bookable when they accept" in r.get_data(as_text=True)
    inv_id, first_hash = _rows(
        owner_dsn,
        "SELECT id, token_hash FROM invitations WHERE tenant_id = %s AND email = 'ines@example.org'",
        clinic.id,
    )[0]
    assert console.post(f"/console/staff/invitations/{inv_id}/resend").status_code == 302
    (second_hash,) = _rows(owner_dsn, "SELECT token_hash FROM invitations WHERE id = %s", inv_id)[0]
    assert second_hash != first_hash
    mails = _rows(
        owner_dsn,
        "SELECT count(*) FROM outbox WHERE tenant_id = %s AND topic = 'email.invitation'",
        clinic.id,
    )
    assert mails == [(2,)]
    assert console.post(f"/console/staff/invitations/{inv_id}/revoke").status_code == 302
    page = console.text("/console/staff")
    assert "&lt;ines@example.org&gt;" not in page and "No open invitations." in page
    assert console.post(f"/console/staff/invitations/{inv_id}/resend").status_code == 404
    actions = [
        a
        for (a,) in _rows(
            owner_dsn,
            "SELECT action FROM audit_log WHERE tenant_id = %s AND action LIKE 'staff.invit%%'"
            " ORDER BY seq",
            clinic.id,
        )
    ]
    assert actions == ["staff.invited", "staff.invitation_resent", "staff.invitation_revoked"]


def test_deactivate_ends_sessions_and_tokens_at_once_then_reactivate(app, owner_dsn):
    """A deactivated member's open console and API token stop working immediately."""
    clinic = ClinicFactory()
    owner = Console(app, clinic)
    desk = StaffFactory(clinic=clinic, role="receptionist", app=app)
    token = desk.sign_in()
    desk_console = Console(app, clinic, "receptionist")
    desk_id = _rows(owner_dsn, "SELECT id FROM users WHERE email = %s", desk.email)[0][0]
    console_id = _rows(owner_dsn, "SELECT id FROM users WHERE email = %s", desk_console.email)[0][0]
    api = lambda: new_client(app).get(  # noqa: E731
        "/api/v1/settings",
        headers={"Authorization": f"Bearer {token}"},
        base_url=owner.base,
    )
    assert api().status_code == 200
    assert owner.post(f"/console/staff/{desk_id}/deactivate").status_code == 302
    assert owner.post(f"/console/staff/{console_id}/deactivate").status_code == 302
    assert api().status_code == 401
    assert desk_console.get("/console/").status_code == 302  # back to sign-in
    assert _rows(owner_dsn, "SELECT is_active FROM users WHERE id = %s", desk_id) == [(False,)]
    assert "Deactivated" in owner.text("/console/staff")
    assert owner.post(f"/console/staff/{desk_id}/reactivate").status_code == 302
    assert _rows(owner_dsn, "SELECT is_active FROM users WHERE id = %s", desk_id) == [(True,)]
    assert api().status_code == 401  # the old token stays revoked


def test_nobody_deactivates_themselves_and_admins_cannot_touch_owners(app, owner_dsn):
    """Self-deactivation and an admin deactivating an owner are refused with a message."""
    clinic = ClinicFactory()
    admin = Console(app, clinic, "admin")
    admin_id = _rows(owner_dsn, "SELECT id FROM users WHERE email = %s", admin.email)[0][0]
    r = admin.post(f"/console/staff/{admin_id}/deactivate", follow_redirects=True)
    assert "You cannot deactivate your own account." in r.get_data(as_text=True)
    r = admin.post(f"/console/staff/{clinic.owner_id}/deactivate", follow_redirects=True)
    assert "Only an owner can deactivate an owner." in r.get_data(as_text=True)
    assert _rows(
        owner_dsn, "SELECT count(*) FROM users WHERE tenant_id = %s AND is_active", clinic.id
    ) == [(2,)]


@pytest.mark.parametrize("role", ["practitioner", "receptionist"])
def test_other_roles_cannot_manage_staff(app, owner_dsn, role):
    """403 for deactivation and invitation actions; the list is visible, without buttons."""
    clinic = ClinicFactory()
    owner = Console(app, clinic)
    owner.post(
        "/console/staff",
        {"name": "New Person", "email": "new@example.org", "role": "receptionist"},
        form_page="/console/staff",
    )
    inv_id = _rows(owner_dsn, "SELECT id FROM invitations WHERE tenant_id = %s", clinic.id)[0][0]
    member = Console(app, clinic, role)
    page = member.text("/console/staff")
    assert "Deactivate" not in page and "Resend" not in page
    assert member.post(f"/console/staff/{clinic.owner_id}/deactivate").status_code == 403
    assert member.post(f"/console/staff/invitations/{inv_id}/revoke").status_code == 403
    assert _rows(owner_dsn, "SELECT is_active FROM users WHERE id = %s", clinic.owner_id) == [
        (True,)
    ]


def test_another_clinics_staff_and_invitations_are_404(app, owner_dsn):
    """Clinic B's owner gets 404 for clinic A's member and invitation."""
    a, b = ClinicFactory(), ClinicFactory()
    a_owner = Console(app, a)
    a_owner.post(
        "/console/staff",
        {"name": "A Person", "email": "a@example.org", "role": "admin"},
        form_page="/console/staff",
    )
    inv_id = _rows(owner_dsn, "SELECT id FROM invitations WHERE tenant_id = %s", a.id)[0][0]
    b_owner = Console(app, b)
    assert b_owner.post(f"/console/staff/{a.owner_id}/deactivate").status_code == 404
    assert b_owner.post(f"/console/staff/{a.owner_id}/role", {"role": "admin"}).status_code == 404
    assert b_owner.post(f"/console/staff/invitations/{inv_id}/revoke").status_code == 404
    assert (
        b_owner.post(f"/console/practice/practitioners/from-staff/{a.owner_id}").status_code == 404
    )


@pytest.mark.parametrize("role", ["owner", "admin", "practitioner", "receptionist"])
def test_every_role_has_a_security_page(app, role):
    """The page lists this browser's session and offers password and recovery codes."""
    console = Console(app, ClinicFactory(), role)
    page = console.text("/console/account/security")
    assert "This browser" in page and "Change your password" in page
    assert "Make new recovery codes" in page


def test_change_password_ends_other_sessions_and_tokens_but_not_this_one(app, owner_dsn):
    """Wrong current password: refused. Right: other browsers and API tokens are signed out."""
    clinic = ClinicFactory()
    console = Console(app, clinic, "practitioner")
    other = _clone_session(app, console)
    assert console.text("/console/account/security").count("Sign out the session") == 1
    bad = console.post(
        "/console/account/password",
        {"pw-current_password": "not it at all", "pw-new_password": "arnica montana 200C!"},
    )
    assert bad.status_code == 422
    assert "Your current password is not right." in bad.get_data(as_text=True)
    weak = console.post(
        "/console/account/password",
        {"pw-current_password": "correct horse 42", "pw-new_password": "short"},
    )
    assert weak.status_code == 422
    ok = console.post(
        "/console/account/password",
        {"pw-current_password": "correct horse 42", "pw-new_password": "arnica montana 200C!"},
        follow_redirects=True,
    )
    assert "You were signed out everywhere else." in ok.get_data(as_text=True)
    assert console.get("/console/").status_code == 200  # still signed in here
    assert other.get("/console/", base_url=console.base).status_code == 302
    assert _rows(
        owner_dsn,
        "SELECT count(*) FROM audit_log WHERE tenant_id = %s AND action = 'auth.password_changed'",
        clinic.id,
    ) == [(1,)]


def test_end_one_session_from_the_list(app):
    """Another browser of mine is listed and can be signed out; mine stays."""
    clinic = ClinicFactory()
    console = Console(app, clinic)
    other = _clone_session(app, console)
    page = console.text("/console/account/security")
    handle = re.search(r"/console/account/sessions/([0-9a-f]{16})/end", page).group(1)
    assert console.post(f"/console/account/sessions/{handle}/end").status_code == 302
    assert other.get("/console/", base_url=console.base).status_code == 302
    assert console.get("/console/").status_code == 200
    assert console.post(f"/console/account/sessions/{handle}/end").status_code == 404
    assert console.post("/console/account/sessions/0000000000000000/end").status_code == 404


def test_regenerate_recovery_codes_asks_for_the_password(app, owner_dsn):
    """Ten new codes shown once; the old hashes are gone."""
    clinic = ClinicFactory()
    console = Console(app, clinic, "receptionist")
    user_id = _rows(owner_dsn, "SELECT id FROM users WHERE email = %s", console.email)[0][0]
    before = set(
        _rows(owner_dsn, "SELECT code_hash FROM recovery_codes WHERE user_id = %s", user_id)
    )
    bad = console.post("/console/account/recovery-codes", {"rc-password": "wrong password 1"})
    assert bad.status_code == 422 and "Your password is not right." in bad.get_data(as_text=True)
    ok = console.post("/console/account/recovery-codes", {"rc-password": "correct horse 42"})
    codes = re.findall(r"<li>([0-9a-f]{8}-[0-9a-f]{8})</li>", ok.get_data(as_text=True))
    assert ok.status_code == 200 and len(codes) == 10
    after = set(
        _rows(owner_dsn, "SELECT code_hash FROM recovery_codes WHERE user_id = %s", user_id)
    )
    assert len(after) == 10 and not (before & after)


def test_sessions_are_named_by_browser_and_system():
    """The security page names a session like a person would, never by its raw id."""
    from admin.clinic.staff.sessions import describe_agent, handle

    chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/156.0 Safari/537.36"
    iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Version/17.0 Safari/604.1"
    assert describe_agent(chrome) == "Chrome on Linux"
    assert describe_agent(iphone) == "Safari on iPhone"
    assert describe_agent("") == "Unknown browser"
    assert len(handle("secret-session-id")) == 16 and "secret" not in handle("secret-session-id")


def _invite(app, clinic, name: str, role: str) -> str:
    """An invitation made by the clinic's owner through the service; its link's token."""
    from admin.clinic.staff.services import invite_staff
    from saas.models import Tenant, User
    from tests.factories.base import clinic_session

    with clinic_session(app, clinic.id) as sess:
        tenant = sess.get(Tenant, clinic.id)
        owner = sess.scalars(
            __import__("sqlalchemy")
            .select(User)
            .where(User.tenant_id == clinic.id, User.role == "owner")
        ).first()
        email = f"{role}-{uuid.uuid4().hex[:6]}@example.org"
        _, token = invite_staff(sess, tenant, owner, email=email, name=name, role=role)
    return token


def _accept(app, clinic, token: str):
    from tests.helpers import post_form

    return post_form(
        new_client(app), f"/invite/{token}", clinic.host, {"password": "homeopathy rules 7"}
    )


def test_accepting_a_practitioner_invitation_makes_them_bookable(app, owner_dsn):
    """A practitioner who accepts is bookable at once: linked to a same-named profile or new."""
    clinic = ClinicFactory()
    console = Console(app, clinic)
    r = console.post(
        "/console/practice/locations",
        {
            "name": "Town",
            "kind": "in_person",
            "address": "1 Remedy Lane",
            "timezone": clinic.timezone,
        },
    )
    assert r.status_code == 302
    r = console.post(
        "/console/practice/practitioners",
        {"display_name": "Dr. Lena Vogt", "title": "", "bio": "", "user_id": ""},
    )
    assert r.status_code == 302
    (lena_profile,) = _rows(
        owner_dsn, "SELECT id FROM practitioners WHERE tenant_id = %s", clinic.id
    )[0]
    tokens = {
        "lena": _invite(app, clinic, "dr. lena  vogt", "practitioner"),
        "omar": _invite(app, clinic, "Dr. Omar Haddad", "practitioner"),
        "rita": _invite(app, clinic, "Rita Desk", "receptionist"),
    }
    for token in tokens.values():
        done = _accept(app, clinic, token)
        assert done.status_code == 302 and done.location.endswith("/mfa/enrol")
    rows = _rows(
        owner_dsn,
        "SELECT p.id, p.display_name, p.is_active, u.name, u.role FROM practitioners p "
        "LEFT JOIN users u ON u.tenant_id = p.tenant_id AND u.id = p.user_id "
        "WHERE p.tenant_id = %s ORDER BY p.display_name",
        clinic.id,
    )
    assert [(r[1], r[2], r[3], r[4]) for r in rows] == [
        ("Dr. Lena Vogt", True, "dr. lena  vogt", "practitioner"),  # linked, not duplicated
        ("Dr. Omar Haddad", True, "Dr. Omar Haddad", "practitioner"),
    ]
    assert rows[0][0] == lena_profile
    # they are offered where hours and visit types are set, with no "make bookable" step
    hours = console.text("/console/practice/availability")
    visit_type = console.text("/console/practice/visit-types/new")
    staff = console.text("/console/staff")
    for name in ("Dr. Lena Vogt", "Dr. Omar Haddad"):
        assert name in hours and name in visit_type
    assert "Make Dr. Omar Haddad bookable" not in staff
    assert "Make Rita Desk bookable" not in staff  # receptionists are not offered it
    actions = _rows(
        owner_dsn,
        "SELECT action, data->>'display_name' FROM audit_log WHERE tenant_id = %s "
        "AND action LIKE 'practice.practitioner%%' ORDER BY seq",
        clinic.id,
    )
    assert [a for a, _ in actions] == [
        "practice.practitioner_created",
        "practice.practitioner_updated",
        "practice.practitioner_created",
    ]


def test_two_unlinked_profiles_of_the_same_name_are_left_alone(app, owner_dsn):
    """When the name does not pick one profile, a new one is made rather than guessing."""
    clinic = ClinicFactory()
    console = Console(app, clinic)
    for _ in range(2):
        console.post(
            "/console/practice/practitioners",
            {"display_name": "Sam Lee", "title": "", "bio": "", "user_id": ""},
        )
    assert _accept(app, clinic, _invite(app, clinic, "Sam Lee", "practitioner")).status_code == 302
    linked = _rows(
        owner_dsn,
        "SELECT count(*) FILTER (WHERE user_id IS NULL), count(*) FROM practitioners "
        "WHERE tenant_id = %s",
        clinic.id,
    )
    assert linked == [(2, 3)]


def test_an_owner_can_still_be_made_bookable_from_the_staff_page(app, owner_dsn):
    """Other roles keep the explicit step: an owner who also sees patients."""
    clinic = ClinicFactory()
    console = Console(app, clinic)
    name = _rows(owner_dsn, "SELECT name FROM users WHERE email = %s", console.email)[0][0]
    assert f"Make {name} bookable" in console.text("/console/staff")
