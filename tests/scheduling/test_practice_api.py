"""Practice configuration through the staff API: create, read, change, validate, isolate."""

from __future__ import annotations

from tests.scheduling.conftest import check


def test_configure_a_practice(make_practice, sql):
    """Locations, practitioners, services, hours and rules are stored and read back."""
    p = make_practice("Asia/Kolkata")
    loc = check(p.owner.get(f"/api/v1/practice/locations/{p.location_id}"), 200)
    assert loc["timezone"] == "Asia/Kolkata"  # defaulted to the clinic's zone
    assert loc["kind"] == "in_person" and loc["address"] == "1 Remedy Lane"
    svc = check(p.owner.get(f"/api/v1/practice/visit-types/{p.service_id}"), 200)
    assert svc["currency"] == "INR"  # defaulted to the clinic's currency
    assert svc["practitioner_ids"] == [p.practitioner_id] and svc["location_ids"] == [p.location_id]
    windows = check(
        p.owner.get("/api/v1/practice/availability", practitioner_id=p.practitioner_id), 200
    )
    assert [(w["weekday"], w["start_time"], w["end_time"]) for w in windows] == [
        (d, "09:00", "17:00") for d in range(1, 8)
    ]
    assert windows[0]["weekday_name"] == "Monday"
    rules = check(p.owner.get("/api/v1/practice/booking-rules"), 200)
    assert rules["effective"]["slot_step_minutes"] == 30
    assert rules["effective"]["cancellation_cutoff_minutes"] == 24 * 60  # default filled in
    assert rules["own"]["cancellation_cutoff_minutes"] is None
    rows = sql(
        "SELECT count(*) FROM audit_log WHERE tenant_id = %s AND action LIKE 'practice.%%'",
        p.clinic.id,
    )
    assert rows[0][0] == 1 + 1 + 1 + 7 + 1  # location, practitioner, service, 7 windows, rules


def test_service_overrides_and_follow_up(make_practice):
    """A service overrides some rules (null inherits) and carries a follow-up interval."""
    p = make_practice()
    body = {
        "slot_step_minutes": 15,
        "follow_up_min_days": 28,
        "follow_up_max_days": 42,
        "hold_minutes": None,
    }
    view = check(
        p.owner.send("PUT", f"/api/v1/practice/visit-types/{p.service_id}/booking-rules", body), 200
    )
    assert view["own"]["slot_step_minutes"] == 15 and view["own"]["hold_minutes"] is None
    assert view["effective"]["slot_step_minutes"] == 15
    assert view["effective"]["min_notice_minutes"] == 60  # inherited from the clinic
    assert (view["effective"]["follow_up_min_days"], view["effective"]["follow_up_max_days"]) == (
        28,
        42,
    )
    bad = p.owner.send("PUT", "/api/v1/practice/booking-rules", {"follow_up_min_days": 10})
    assert "follow_up_min_days" in check(bad, 422)["errors"]["json"]
    inverted = p.owner.send(
        "PUT",
        f"/api/v1/practice/visit-types/{p.service_id}/booking-rules",
        {"follow_up_min_days": 42, "follow_up_max_days": 28},
    )
    assert "follow_up_max_days" in check(inverted, 422)["errors"]["json"]


def test_validation_errors_name_the_field(make_practice):
    """Clear field errors: end before start, overlaps, unknown zone, negative price, ..."""
    p = make_practice(windows=[(1, "09:00", "13:00")])
    o = p.owner
    cases = [
        (
            "/api/v1/practice/locations",
            {"name": "Annex", "address": "2 Lane", "timezone": "Mars/Olympus"},
            "timezone",
        ),
        ("/api/v1/practice/locations", {"name": "Annex", "kind": "in_person"}, "address"),
        (
            "/api/v1/practice/visit-types",
            {"name": "X", "duration_minutes": 30, "price_minor": -1},
            "price_minor",
        ),
        ("/api/v1/practice/visit-types", {"name": "X", "duration_minutes": 0}, "duration_minutes"),
        (
            "/api/v1/practice/visit-types",
            {
                "name": "X",
                "duration_minutes": 30,
                "new_patients_only": True,
                "returning_patients_only": True,
            },
            "returning_patients_only",
        ),
        (
            "/api/v1/practice/visit-types",
            {
                "name": "X",
                "duration_minutes": 30,
                "mode": "online",
                "location_ids": [p.location_id],
            },
            "location_ids",
        ),
        (
            "/api/v1/practice/availability",
            {
                "practitioner_id": p.practitioner_id,
                "location_id": p.location_id,
                "weekday": 2,
                "start_time": "12:00",
                "end_time": "09:00",
            },
            "end_time",
        ),
        (
            "/api/v1/practice/availability",
            {
                "practitioner_id": p.practitioner_id,
                "location_id": p.location_id,
                "weekday": 1,
                "start_time": "12:00",
                "end_time": "14:00",
            },
            "start_time",
        ),
        (
            "/api/v1/practice/availability",
            {
                "practitioner_id": p.practitioner_id,
                "location_id": p.location_id,
                "weekday": 8,
                "start_time": "12:00",
                "end_time": "14:00",
            },
            "weekday",
        ),
        (
            "/api/v1/practice/exceptions",
            {
                "practitioner_id": p.practitioner_id,
                "kind": "extra_hours",
                "start": "2030-01-01T09:00",
                "end": "2030-01-01T10:00",
            },
            "location_id",
        ),
        (
            "/api/v1/practice/exceptions",
            {
                "practitioner_id": p.practitioner_id,
                "kind": "time_off",
                "start": "2030-01-01T09:00",
                "end": "2030-01-01T08:00",
            },
            "end",
        ),
        (
            "/api/v1/practice/closures",
            {"name": "Holiday", "start_date": "2030-01-05", "end_date": "2030-01-01"},
            "end_date",
        ),
        ("/api/v1/practice/booking-rules", {"slot_step_minutes": 1}, "slot_step_minutes"),
        (
            "/api/v1/practice/practitioners",
            {"display_name": "Dr. X", "photo_url": "javascript:alert(1)"},
            "photo_url",
        ),
    ]
    for path, body, field in cases:
        method = "PUT" if path.endswith("booking-rules") else "POST"
        resp = o.send(method, path, body)
        errors = check(resp, 422)["errors"]["json"]
        assert field in errors, (path, body, errors)
    overlap = o.post("/api/v1/practice/availability", cases[7][1])
    assert overlap.get_json()["reason"] == "overlapping_window"
    assert "Monday 09:00–13:00" in overlap.get_json()["errors"]["json"]["start_time"][0]
    # nothing was written by the refused requests
    assert len(check(o.get("/api/v1/practice/availability"), 200)) == 1
    assert len(check(o.get("/api/v1/practice/locations"), 200)) == 1


def test_adjacent_windows_and_patch_validation(make_practice):
    """Touching windows are fine; a PATCH is validated on the resulting window."""
    p = make_practice(windows=[(1, "09:00", "12:00")])
    second = check(
        p.owner.post(
            "/api/v1/practice/availability",
            {
                "practitioner_id": p.practitioner_id,
                "location_id": p.location_id,
                "weekday": 1,
                "start_time": "12:00",
                "end_time": "15:00",
            },
        ),
        201,
    )
    # a new schedule from 2099 overlaps the open-ended windows until they end in 2098
    later = {
        "practitioner_id": p.practitioner_id,
        "location_id": p.location_id,
        "weekday": 1,
        "start_time": "08:00",
        "end_time": "18:00",
        "valid_from": "2099-01-01",
    }
    assert (
        check(p.owner.post("/api/v1/practice/availability", later), 422)["reason"]
        == "overlapping_window"
    )
    for w in check(p.owner.get("/api/v1/practice/availability"), 200):
        check(
            p.owner.send(
                "PATCH", f"/api/v1/practice/availability/{w['id']}", {"valid_until": "2098-12-31"}
            ),
            200,
        )
    check(p.owner.post("/api/v1/practice/availability", later), 201)
    bad = p.owner.send(
        "PATCH", f"/api/v1/practice/availability/{second['id']}", {"start_time": "11:00"}
    )
    assert check(bad, 422)["reason"] == "overlapping_window"
    end_first = p.owner.send(
        "PATCH", f"/api/v1/practice/availability/{second['id']}", {"end_time": "11:00"}
    )
    assert "end_time" in check(end_first, 422)["errors"]["json"]
    ok = p.owner.send(
        "PATCH", f"/api/v1/practice/availability/{second['id']}", {"end_time": "16:30"}
    )
    assert check(ok, 200)["end_time"] == "16:30"
    check(p.owner.send("DELETE", f"/api/v1/practice/availability/{second['id']}"), 204)
    assert check(p.owner.get(f"/api/v1/practice/availability/{second['id']}"), 404)


def test_duplicates_archive_and_links(make_practice):
    """Names are unique per clinic; archiving keeps the row; services keep their links."""
    p = make_practice()
    dup = p.owner.post("/api/v1/practice/locations", {"name": "Main practice", "address": "x"})
    assert check(dup, 409)["errors"]["json"]["name"]
    online = check(
        p.owner.post("/api/v1/practice/locations", {"name": "Video", "kind": "online"}), 201
    )
    changed = check(
        p.owner.send(
            "PATCH",
            f"/api/v1/practice/visit-types/{p.service_id}",
            {"mode": "either", "location_ids": [p.location_id, online["id"]]},
        ),
        200,
    )
    assert sorted(changed["location_ids"]) == sorted([p.location_id, online["id"]])
    assert changed["practitioner_ids"] == [p.practitioner_id]  # untouched set stays
    check(p.owner.send("DELETE", f"/api/v1/practice/practitioners/{p.practitioner_id}"), 204)
    prac = check(p.owner.get(f"/api/v1/practice/practitioners/{p.practitioner_id}"), 200)
    assert prac["is_active"] is False
    public = check(p.owner.as_(None).get("/api/v1/practitioners"), 200)
    assert public == []  # archived practitioners are not shown to patients


def test_link_practitioner_to_staff_account(make_practice, make_clinic):
    """A profile may link to a staff account of the same clinic only, once."""
    p = make_practice()
    other = make_clinic()
    foreign = p.owner.send(
        "PATCH",
        f"/api/v1/practice/practitioners/{p.practitioner_id}",
        {"user_id": str(other.owner_id)},
    )
    assert "user_id" in check(foreign, 422)["errors"]["json"]
    mine = check(
        p.owner.send(
            "PATCH",
            f"/api/v1/practice/practitioners/{p.practitioner_id}",
            {"user_id": str(p.clinic.owner_id)},
        ),
        200,
    )
    assert mine["user_id"] == str(p.clinic.owner_id)
    second = p.owner.post(
        "/api/v1/practice/practitioners",
        {"display_name": "Dr. Two", "user_id": str(p.clinic.owner_id)},
    )
    assert "user_id" in check(second, 409)["errors"]["json"]


def test_exceptions_and_closures(make_practice):
    """Time off, extra hours (naive times read in the location's zone) and closures."""
    p = make_practice("America/New_York")
    extra = check(
        p.owner.post(
            "/api/v1/practice/exceptions",
            {
                "practitioner_id": p.practitioner_id,
                "location_id": p.location_id,
                "kind": "extra_hours",
                "start": "2030-07-06T18:00:00",
                "end": "2030-07-06T20:00:00",
                "reason": "Evening clinic",
            },
        ),
        201,
    )
    assert extra["start"].startswith("2030-07-06T22:00:00")  # 18:00 EDT stored as 22:00 UTC
    listed = check(
        p.owner.get("/api/v1/practice/exceptions", practitioner_id=p.practitioner_id), 200
    )
    assert [e["id"] for e in listed] == [extra["id"]]
    closure = check(
        p.owner.post(
            "/api/v1/practice/closures", {"name": "Independence Day", "start_date": "2030-07-04"}
        ),
        201,
    )
    assert closure["end_date"] == "2030-07-04"
    check(p.owner.send("DELETE", f"/api/v1/practice/closures/{closure['id']}"), 204)
    check(p.owner.send("DELETE", f"/api/v1/practice/exceptions/{extra['id']}"), 204)
    assert check(p.owner.get("/api/v1/practice/closures"), 200) == []


def test_roles(make_practice, make_staff):
    """Reception reads the configuration but cannot change it; no token is a 401."""
    p = make_practice()
    desk = p.owner.as_(make_staff(p.clinic, "receptionist")[1])
    assert len(check(desk.get("/api/v1/practice/visit-types"), 200)) == 1
    refused = desk.post("/api/v1/practice/locations", {"name": "Annex", "address": "2 Lane"})
    assert check(refused, 403)["message"].endswith("practice.manage.")
    anon = p.owner.as_(None)
    check(anon.get("/api/v1/practice/locations"), 401)
    check(anon.post("/api/v1/practice/locations", {"name": "Annex"}), 401)
    assert len(check(p.owner.get("/api/v1/practice/locations"), 200)) == 1


def test_cross_tenant(make_practice):
    """Clinic B's token on A's host is 401; A's ids on B's host are 404, for every route."""
    a, b = make_practice(), make_practice()
    b_on_a = a.owner.as_(b.owner.token)
    check(b_on_a.get("/api/v1/practice/locations"), 401)
    check(b_on_a.post("/api/v1/practice/closures", {"name": "x", "start_date": "2030-01-01"}), 401)
    ids = {
        "locations": a.location_id,
        "practitioners": a.practitioner_id,
        "visit-types": a.service_id,
    }
    for kind, object_id in ids.items():
        body = check(b.owner.get(f"/api/v1/practice/{kind}/{object_id}"), 404)
        assert object_id not in str(body)
        check(
            b.owner.send("PATCH", f"/api/v1/practice/{kind}/{object_id}", {"is_active": False}), 404
        )
        check(b.owner.send("DELETE", f"/api/v1/practice/{kind}/{object_id}"), 404)
    check(b.owner.get(f"/api/v1/practice/visit-types/{a.service_id}/booking-rules"), 404)
    check(b.owner.post(f"/api/v1/practice/practitioners/{a.practitioner_id}/calendar-feed"), 404)
    window = check(a.owner.get("/api/v1/practice/availability"), 200)[0]["id"]
    check(b.owner.get(f"/api/v1/practice/availability/{window}"), 404)
    check(b.owner.send("DELETE", f"/api/v1/practice/availability/{window}"), 404)
    # B cannot attach A's practitioner or location to its own records
    stolen = b.owner.post(
        "/api/v1/practice/availability",
        {
            "practitioner_id": a.practitioner_id,
            "location_id": a.location_id,
            "weekday": 1,
            "start_time": "09:00",
            "end_time": "10:00",
        },
    )
    assert set(check(stolen, 422)["errors"]["json"]) == {"practitioner_id", "location_id"}
    svc = b.owner.post(
        "/api/v1/practice/visit-types",
        {"name": "Steal", "duration_minutes": 30, "practitioner_ids": [a.practitioner_id]},
    )
    assert "practitioner_ids" in check(svc, 422)["errors"]["json"]
    closure = b.owner.post(
        "/api/v1/practice/closures",
        {"name": "x", "start_date": "2030-01-01", "location_id": a.location_id},
    )
    assert "location_id" in check(closure, 422)["errors"]["json"]
    # A's configuration is intact and B sees only its own
    assert (
        check(a.owner.get(f"/api/v1/practice/locations/{a.location_id}"), 200)["is_active"] is True
    )
    assert [x["id"] for x in check(b.owner.get("/api/v1/practice/locations"), 200)] == [
        b.location_id
    ]


def test_settings(make_practice):
    """The feed privacy setting defaults to initials and can be changed."""
    p = make_practice()
    assert check(p.owner.get("/api/v1/practice/settings"), 200) == {
        "patient_names_in_feeds": "initials"
    }
    check(p.owner.send("PUT", "/api/v1/practice/settings", {"patient_names_in_feeds": "full"}), 200)
    assert check(p.owner.get("/api/v1/practice/settings"), 200)["patient_names_in_feeds"] == "full"
    check(
        p.owner.send("PUT", "/api/v1/practice/settings", {"patient_names_in_feeds": "everything"}),
        422,
    )
    check(new_client_api(p).get("/api/v1/practice/settings"), 401)


def new_client_api(p):
    """An anonymous client on the practice's host."""
    return p.owner.as_(None)


def test_cross_tenant_exceptions_closures_rules_settings(make_practice):
    """The remaining configuration routes: B's token on A's host is 401, A's ids on B's 404."""
    a, b = make_practice(), make_practice()
    exc = check(
        a.owner.post(
            "/api/v1/practice/exceptions",
            {
                "practitioner_id": a.practitioner_id,
                "kind": "time_off",
                "start": "2030-01-01T09:00",
                "end": "2030-01-01T12:00",
            },
        ),
        201,
    )
    closure = check(
        a.owner.post("/api/v1/practice/closures", {"name": "Holiday", "start_date": "2030-01-02"}),
        201,
    )
    window = check(a.owner.get("/api/v1/practice/availability"), 200)[0]
    b_on_a = a.owner.as_(b.owner.token)
    for method, path, body in (
        ("GET", "/api/v1/practice/exceptions", None),
        ("GET", "/api/v1/practice/closures", None),
        ("GET", "/api/v1/practice/booking-rules", None),
        ("PUT", "/api/v1/practice/booking-rules", {"slot_step_minutes": 5}),
        ("GET", "/api/v1/practice/settings", None),
        ("PUT", "/api/v1/practice/settings", {"patient_names_in_feeds": "full"}),
        ("DELETE", f"/api/v1/practice/exceptions/{exc['id']}", None),
        ("DELETE", f"/api/v1/practice/closures/{closure['id']}", None),
    ):
        check(b_on_a.send(method, path, body), 401)
    check(b.owner.send("DELETE", f"/api/v1/practice/exceptions/{exc['id']}"), 404)
    check(b.owner.send("DELETE", f"/api/v1/practice/closures/{closure['id']}"), 404)
    check(
        b.owner.send(
            "PATCH", f"/api/v1/practice/availability/{window['id']}", {"end_time": "10:00"}
        ),
        404,
    )
    check(
        b.owner.send(
            "PUT", f"/api/v1/practice/visit-types/{a.service_id}/booking-rules", {"hold_minutes": 5}
        ),
        404,
    )
    foreign = b.owner.post(
        "/api/v1/practice/exceptions",
        {
            "practitioner_id": a.practitioner_id,
            "kind": "time_off",
            "start": "2030-01-01T09:00",
            "end": "2030-01-01T12:00",
        },
    )
    assert "practitioner_id" in check(foreign, 422)["errors"]["json"]
    # B's lists do not show A's rows; A's rows and rules are unchanged
    assert check(b.owner.get("/api/v1/practice/exceptions"), 200) == []
    assert check(b.owner.get("/api/v1/practice/closures"), 200) == []
    assert [e["id"] for e in check(a.owner.get("/api/v1/practice/exceptions"), 200)] == [exc["id"]]
    assert [c["id"] for c in check(a.owner.get("/api/v1/practice/closures"), 200)] == [
        closure["id"]
    ]
    assert (
        check(a.owner.get("/api/v1/practice/booking-rules"), 200)["effective"]["slot_step_minutes"]
        == 30
    )
    assert (
        check(a.owner.get("/api/v1/practice/settings"), 200)["patient_names_in_feeds"] == "initials"
    )
    assert (
        check(a.owner.get(f"/api/v1/practice/availability/{window['id']}"), 200)["end_time"]
        == "17:00"
    )


def test_deprecated_services_paths_still_answer(make_practice):
    """``/services`` paths answer as before, are marked deprecated in OpenAPI, name the new path."""
    p = make_practice()
    new = check(p.owner.get(f"/api/v1/practice/visit-types/{p.service_id}"), 200)
    assert check(p.owner.get(f"/api/v1/practice/services/{p.service_id}"), 200) == new
    assert check(p.owner.get("/api/v1/practice/services"), 200) == [new]
    changed = check(
        p.owner.send("PATCH", f"/api/v1/practice/services/{p.service_id}", {"price_minor": 6500}),
        200,
    )
    assert changed["price_minor"] == 6500
    rules = check(
        p.owner.send(
            "PUT", f"/api/v1/practice/services/{p.service_id}/booking-rules", {"hold_minutes": 5}
        ),
        200,
    )
    assert rules == check(
        p.owner.get(f"/api/v1/practice/visit-types/{p.service_id}/booking-rules"), 200
    )
    anon = p.owner.as_(None)
    assert check(anon.get("/api/v1/services"), 200) == check(anon.get("/api/v1/visit-types"), 200)
    paths = check(p.owner.get("/api/openapi.json", token=None), 200)["paths"]
    for old, new_path in (
        ("/api/v1/practice/services", "/api/v1/practice/visit-types"),
        (
            "/api/v1/practice/services/{visit_type_id}",
            "/api/v1/practice/visit-types/{visit_type_id}",
        ),
        ("/api/v1/services", "/api/v1/visit-types"),
    ):
        get = paths[old]["get"]
        assert get["deprecated"] is True and new_path in get["description"], (old, get)
        assert "deprecated" not in paths[old.replace("services", "visit-types")]["get"]
