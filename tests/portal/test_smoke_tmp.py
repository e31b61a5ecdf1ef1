from tests.portal.conftest import get


def test_pages_render(practice, signed_in):
    c = signed_in
    for path in [
        "/",
        "/book",
        f"/book?service_id={practice.service_id}",
        f"/book?service_id={practice.service_id}&any=1",
        f"/book?service_id={practice.service_id}&practitioner_id={practice.practitioner_id}&date={practice.day(2).isoformat()}",
        "/appointments",
        "/profile",
        "/waitlist",
        "/privacy",
        "/imprint",
        "/portal/brand.css",
        "/portal/favicon.svg",
    ]:
        r = get(c, practice.clinic, path)
        assert r.status_code == 200, (path, r.data[:3000])
