"""Calendar feeds (secret, revocable, per practitioner) and per-appointment ``.ics`` files.

Every calendar is parsed back with the ``icalendar`` library.
"""

from __future__ import annotations

import datetime as dt

import icalendar

from tests.scheduling.conftest import check


def _events(data: bytes) -> list:
    cal = icalendar.Calendar.from_ical(data)
    return sorted(cal.walk("VEVENT"), key=lambda e: e.decoded("dtstart"))


def _feed_path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def test_practitioner_feed(make_practice, make_patient, sql):
    """The feed lists active visits with initials by default; cancelled ones drop out."""
    p = make_practice()
    ann, ben = make_patient(p.clinic, "Ann-Marie Archer"), make_patient(p.clinic, "Ben van Baker")
    one = check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(p.day(3), "10:00")), token=ann.token),
        201,
    )
    two = check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(p.day(4), "10:00")), token=ben.token),
        201,
    )
    three = check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(p.day(5), "10:00")), token=ben.token),
        201,
    )
    check(p.owner.post(f"/api/v1/appointments/{three['id']}/cancel", {"reason": "Duplicate"}), 200)
    feed = check(
        p.owner.post(f"/api/v1/practice/practitioners/{p.practitioner_id}/calendar-feed"), 201
    )
    assert feed["url"].startswith(f"http://{p.clinic.host}") and "/calendar/simcal_" in feed["url"]
    assert feed["webcal_url"].startswith("webcal://")
    resp = p.owner.client.get(_feed_path(feed["url"]), base_url=f"http://{p.clinic.host}")
    assert resp.status_code == 200 and resp.mimetype == "text/calendar"
    events = _events(resp.data)
    assert [str(e["uid"]) for e in events] == [
        f"{one['id']}@{p.clinic.slug}.similia",
        f"{two['id']}@{p.clinic.slug}.similia",
    ]
    assert [str(e["summary"]) for e in events] == [
        "Follow-up consultation – A. A.",
        "Follow-up consultation – B. V. B.",
    ]
    assert events[0].decoded("dtstart") == p.at(p.day(3), "10:00")
    assert events[0].decoded("dtend") - events[0].decoded("dtstart") == dt.timedelta(hours=1)
    assert "Main practice, 1 Remedy Lane" == str(events[0]["location"])
    assert b"Archer" not in resp.data and b"Baker" not in resp.data
    # the token is stored hashed only
    token = feed["url"].rsplit("/", 1)[1][: -len(".ics")]
    assert sql("SELECT count(*) FROM calendar_feeds WHERE token_hash = %s", token) == [(0,)]
    # clinic setting: full names, or none
    check(p.owner.send("PUT", "/api/v1/practice/settings", {"patient_names_in_feeds": "full"}), 200)
    full = _events(
        p.owner.client.get(_feed_path(feed["url"]), base_url=f"http://{p.clinic.host}").data
    )
    assert str(full[0]["summary"]) == "Follow-up consultation – Ann-Marie Archer"
    check(p.owner.send("PUT", "/api/v1/practice/settings", {"patient_names_in_feeds": "none"}), 200)
    none = _events(
        p.owner.client.get(_feed_path(feed["url"]), base_url=f"http://{p.clinic.host}").data
    )
    assert [str(e["summary"]) for e in none] == ["Follow-up consultation"] * 2


def test_feed_reschedule_bumps_sequence(make_practice, make_patient):
    """A rescheduled visit keeps its UID and increases SEQUENCE so calendars move it."""
    p = make_practice()
    pat = make_patient(p.clinic)
    appt = check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(p.day(3), "10:00")), token=pat.token),
        201,
    )
    feed = check(
        p.owner.post(f"/api/v1/practice/practitioners/{p.practitioner_id}/calendar-feed"), 201
    )
    check(
        p.owner.post(
            f"/api/v1/appointments/{appt['id']}/reschedule",
            {"start": p.at(p.day(3), "14:00").isoformat()},
            token=pat.token,
        ),
        200,
    )
    [event] = _events(
        p.owner.client.get(_feed_path(feed["url"]), base_url=f"http://{p.clinic.host}").data
    )
    assert event.decoded("dtstart") == p.at(p.day(3), "14:00") and int(event["sequence"]) == 1


def test_feed_revocation_and_rotation(make_practice, make_clinic):
    """A new URL revokes the old one; revoking ends it; other hosts never serve it."""
    p = make_practice()
    other = make_practice()
    first = check(
        p.owner.post(f"/api/v1/practice/practitioners/{p.practitioner_id}/calendar-feed"), 201
    )
    second = check(
        p.owner.post(f"/api/v1/practice/practitioners/{p.practitioner_id}/calendar-feed"), 201
    )
    c = p.owner.client
    assert c.get(_feed_path(first["url"]), base_url=f"http://{p.clinic.host}").status_code == 404
    assert c.get(_feed_path(second["url"]), base_url=f"http://{p.clinic.host}").status_code == 200
    assert (
        c.get(_feed_path(second["url"]), base_url=f"http://{other.clinic.host}").status_code == 404
    )
    assert c.get(_feed_path(second["url"]), base_url="http://localhost").status_code == 404
    assert (
        c.get("/calendar/simcal_guessing.ics", base_url=f"http://{p.clinic.host}").status_code
        == 404
    )
    check(
        p.owner.send("DELETE", f"/api/v1/practice/practitioners/{p.practitioner_id}/calendar-feed"),
        204,
    )
    assert c.get(_feed_path(second["url"]), base_url=f"http://{p.clinic.host}").status_code == 404
    # another clinic's owner cannot issue or revoke this practitioner's feed
    check(
        other.owner.post(f"/api/v1/practice/practitioners/{p.practitioner_id}/calendar-feed"), 404
    )
    check(
        other.owner.send(
            "DELETE", f"/api/v1/practice/practitioners/{p.practitioner_id}/calendar-feed"
        ),
        404,
    )
    check(
        p.owner.as_(other.owner.token).post(
            f"/api/v1/practice/practitioners/{p.practitioner_id}/calendar-feed"
        ),
        401,
    )


def test_appointment_ics_download(make_practice, make_patient):
    """Patients download their own visit (with the practitioner's name); staff any visit."""
    p = make_practice("Asia/Kolkata")
    pat, other = make_patient(p.clinic, "Priya Patel"), make_patient(p.clinic, "Otto Other")
    appt = check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(p.day(3), "09:30")), token=pat.token),
        201,
    )
    resp = p.owner.get(f"/api/v1/appointments/{appt['id']}/calendar.ics", token=pat.token)
    assert resp.status_code == 200 and resp.mimetype == "text/calendar"
    assert "attachment" in resp.headers["Content-Disposition"]
    [event] = _events(resp.data)
    assert str(event["summary"]) == "Follow-up consultation with Dr. Anna Weber"
    assert event.decoded("dtstart") == p.at(p.day(3), "09:30")
    assert event.decoded("dtstart").astimezone(dt.UTC).time() == dt.time(4, 0)
    staff = _events(p.owner.get(f"/api/v1/appointments/{appt['id']}/calendar.ics").data)
    assert str(staff[0]["summary"]) == "Follow-up consultation – P. P."
    assert (
        p.owner.get(
            f"/api/v1/appointments/{appt['id']}/calendar.ics", token=other.token
        ).status_code
        == 404
    )
    assert (
        p.owner.get(f"/api/v1/appointments/{appt['id']}/calendar.ics", token=None).status_code
        == 401
    )


def test_practitioner_manages_own_feed_only(make_practice, make_staff):
    """A practitioner linked to their profile manages its feed, not a colleague's."""
    p = make_practice()
    user_id, token = make_staff(p.clinic, "practitioner", "Dr. Anna Weber")
    check(
        p.owner.send(
            "PATCH",
            f"/api/v1/practice/practitioners/{p.practitioner_id}",
            {"user_id": str(user_id)},
        ),
        200,
    )
    colleague = check(
        p.owner.post("/api/v1/practice/practitioners", {"display_name": "Dr. Colleague"}), 201
    )
    me = p.owner.as_(token)
    feed = check(me.post(f"/api/v1/practice/practitioners/{p.practitioner_id}/calendar-feed"), 201)
    assert (
        p.owner.client.get(_feed_path(feed["url"]), base_url=f"http://{p.clinic.host}").status_code
        == 200
    )
    check(me.post(f"/api/v1/practice/practitioners/{colleague['id']}/calendar-feed"), 403)
    check(
        me.send("DELETE", f"/api/v1/practice/practitioners/{p.practitioner_id}/calendar-feed"), 204
    )
    # practitioners read the configuration but do not change it
    check(me.post("/api/v1/practice/closures", {"name": "x", "start_date": "2030-01-01"}), 403)
