import pytest


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """The personas' passwords hashed cheaply: PBKDF2 costs seconds per test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
