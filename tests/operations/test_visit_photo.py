"""POST|GET /api/v1/visits/{id}/photo/: images only (by their bytes), size-limited, stored
under a server-made name, readable by the organization's users only."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from machines.models import Role
from operations.models import Visit
from operations.rules_visits import photo_extension
from tests.conftest import client_for
from tests.factories import make_user
from tests.operations.test_visit_actions import check_in
from tests.operations.visit_routes import make_route

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 64


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def visit(personas):
    route = make_route(personas.acme, personas.operator, [personas.machine])
    visit = route.visits.get()
    check_in(personas.operator, visit)
    return visit


def url(visit) -> str:
    return f"/api/v1/visits/{visit.pk}/photo/"


def upload(user, visit, content: bytes, name: str = "../../etc/passwd.png",
           content_type: str = "image/png"):
    return client_for(user).post(url(visit), {
        "photo": SimpleUploadedFile(name, content, content_type=content_type)},
        format="multipart")


@pytest.mark.parametrize(("head", "extension"), [
    (PNG, "png"), (JPEG, "jpg"), (WEBP, "webp"), (b"GIF89a" + b"\x00" * 10, None),
    (b"<svg xmlns=", None), (b"RIFF\x00\x00\x00\x00WAVE", None), (b"", None),
])
def test_image_types_are_recognised_by_their_bytes(head, extension):
    assert photo_extension(head[:16]) == extension


def test_a_photo_is_stored_under_a_server_made_name(personas, visit, media):
    response = upload(personas.operator, visit, PNG)
    assert response.status_code == 201, response.data
    name = Visit.objects.get(pk=visit.pk).photo.name
    assert name.startswith("visits/") and name.endswith(".png")
    assert "passwd" not in name and ".." not in name
    assert (media / name).read_bytes() == PNG


def test_a_new_photo_replaces_the_old_file(personas, visit, media,
                                           django_capture_on_commit_callbacks):
    upload(personas.operator, visit, PNG)
    first = Visit.objects.get(pk=visit.pk).photo.name
    with django_capture_on_commit_callbacks(execute=True):
        assert upload(personas.operator, visit, JPEG, "x.jpg", "image/jpeg").status_code == 201
    second = Visit.objects.get(pk=visit.pk).photo.name
    assert second.endswith(".jpg") and not (media / first).exists()


@pytest.mark.parametrize("content", [b"GIF89a" + b"\x00" * 64, b"<html><script>", b""])
def test_anything_but_jpeg_png_webp_is_a_400_naming_photo(personas, visit, content):
    response = upload(personas.operator, visit, content)
    assert response.status_code == 400 and "photo" in response.data
    assert not Visit.objects.get(pk=visit.pk).photo


def test_a_missing_file_is_a_400_naming_photo(personas, visit):
    response = client_for(personas.operator).post(url(visit), {}, format="multipart")
    assert response.status_code == 400 and "photo" in response.data


def test_a_photo_over_the_limit_is_a_413(personas, visit, settings):
    settings.VISIT_PHOTO_MAX_BYTES = 1000
    assert upload(personas.operator, visit, PNG + b"\x00" * 900).status_code == 201
    response = upload(personas.operator, visit, PNG + b"\x00" * 1000)
    assert response.status_code == 413 and "photo" in response.data


def test_a_huge_declared_body_is_a_413_before_it_is_read(personas, visit, settings):
    settings.VISIT_PHOTO_MAX_BYTES = 1000
    response = upload(personas.operator, visit, PNG + b"\x00" * 200_000)
    assert response.status_code == 413


def test_no_photo_before_check_in(personas):
    route = make_route(personas.acme, personas.operator, [personas.machine])
    response = upload(personas.operator, route.visits.get(), PNG)
    assert response.status_code == 400 and "photo" in response.data


def test_only_the_operator_or_a_manager_may_send_it(personas, visit):
    other = make_user("acme-operator-2", organization=personas.acme, role=Role.OPERATOR)
    assert upload(personas.viewer, visit, PNG).status_code == 403
    assert upload(other, visit, PNG).status_code == 403
    assert upload(personas.stranger, visit, PNG).status_code == 404
    assert upload(personas.manager, visit, PNG).status_code == 201


def test_the_photo_is_readable_by_the_organization_only(personas, visit):
    assert client_for(personas.viewer).get(url(visit)).status_code == 404  # none yet
    upload(personas.operator, visit, PNG)
    response = client_for(personas.viewer).get(url(visit))
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == PNG
    assert "private" in response["Cache-Control"]
    assert client_for(personas.stranger).get(url(visit)).status_code == 404
    from rest_framework.test import APIClient

    assert APIClient().get(url(visit)).status_code in (401, 403)


def test_photos_are_not_served_as_public_media(personas, visit, client, settings):
    upload(personas.operator, visit, PNG)
    name = Visit.objects.get(pk=visit.pk).photo.name
    client.force_login(personas.manager)
    assert client.get(f"/{settings.MEDIA_URL}{name}").status_code == 404
