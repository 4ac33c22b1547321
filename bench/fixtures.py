"""The benchmark database: created, migrated and filled by the harness (a subprocess with
Django set up), never by tests. Idempotent: users, machines and keys are created once and
reused; access tokens are minted fresh for each run with a lifetime longer than any run.

    python -m bench.fixtures --users N --machines M --out plan-data.json
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta
from urllib.parse import urlsplit

import orjson

ORG_SLUG = "bench-org"
USER_PREFIX = "bench-user-"
ROOMS_ORG_PREFIX = "bench-rooms-"
MACHINE_PREFIX = "SN-BENCH-"


def ensure_database(url: str, *, recreate: bool = False) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and recreate:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def fill(users: int, machines: int, device_keys: int, room_counts: list[int]) -> dict:
    from django.contrib.auth import get_user_model
    from rest_framework_simplejwt.tokens import AccessToken

    from machines.models import Machine, MachineStatus, Membership, Organization, Role

    User = get_user_model()
    org, _ = Organization.objects.get_or_create(slug=ORG_SLUG, defaults={"name": "Bench"})
    existing = set(
        User.objects.filter(username__startswith=USER_PREFIX).values_list("username", flat=True)
    )
    wanted = [f"{USER_PREFIX}{i:05d}" for i in range(users)]
    new = [User(username=u, is_active=True) for u in wanted if u not in existing]
    for user in new:
        user.set_unusable_password()
    User.objects.bulk_create(new, batch_size=2000)
    rows = list(
        User.objects.filter(username__in=wanted).order_by("username").values_list("pk", flat=True)
    )
    members = set(Membership.objects.filter(organization=org).values_list("user_id", flat=True))
    Membership.objects.bulk_create(
        [
            Membership(user_id=pk, organization=org, role=Role.VIEWER)
            for pk in rows
            if pk not in members
        ],
        batch_size=2000,
    )

    # The live-map snapshot sent on `machines:all` grows with the fleet: keep the bench
    # fleet at exactly `machines` (earlier runs may have made more).
    extra = list(
        Machine.objects.filter(organization=org)
        .order_by("serial_number")
        .values_list("pk", flat=True)[machines:]
    )
    if extra:
        Machine.objects.filter(pk__in=extra).delete()
    have = Machine.objects.filter(organization=org).count()
    Machine.objects.bulk_create(
        [
            Machine(
                organization=org,
                serial_number=f"{MACHINE_PREFIX}{i:05d}",
                name=f"Bench machine {i:05d}",
                status=MachineStatus.ONLINE,
                latitude="41.299500",
                longitude="69.240100",
            )
            for i in range(have, machines)
        ],
        batch_size=2000,
    )
    machine_ids = [
        str(m)
        for m in Machine.objects.filter(organization=org)
        .order_by("serial_number")
        .values_list("pk", flat=True)[:machines]
    ]

    tokens = []
    lifetime = timedelta(hours=3)
    for pk in rows:
        token = AccessToken()
        token.set_exp(lifetime=lifetime)
        token["user_id"] = pk
        tokens.append({"user": pk, "token": str(token)})
    keys = issue_device_keys(machine_ids[:device_keys])
    return {
        "org": str(org.pk),
        "users": tokens,
        "machines": machine_ids,
        "device_keys": keys,
        "rooms": room_viewers(room_counts, lifetime),
    }


def room_viewers(counts: list[int], lifetime) -> dict:
    """For each count, a user who belongs to that many organizations: one `machines:all`
    subscription joins that many `map:{org}` rooms."""
    from django.contrib.auth import get_user_model
    from rest_framework_simplejwt.tokens import AccessToken

    from machines.models import Membership, Organization, Role

    if not counts:
        return {}
    User = get_user_model()
    top = max(counts)
    have = Organization.objects.filter(slug__startswith=ROOMS_ORG_PREFIX).count()
    Organization.objects.bulk_create(
        [
            Organization(name=f"Bench rooms {i:05d}", slug=f"{ROOMS_ORG_PREFIX}{i:05d}")
            for i in range(have, top)
        ],
        batch_size=2000,
    )
    orgs = [
        str(pk)
        for pk in Organization.objects.filter(slug__startswith=ROOMS_ORG_PREFIX)
        .order_by("slug")
        .values_list("pk", flat=True)[:top]
    ]
    out = {}
    for count in counts:
        user, created = User.objects.get_or_create(username=f"bench-rooms-{count}")
        if created:
            user.set_unusable_password()
            user.save()
        member_of = {
            str(org)
            for org in Membership.objects.filter(user=user).values_list(
                "organization_id", flat=True
            )
        }
        Membership.objects.bulk_create(
            [
                Membership(user=user, organization_id=org, role=Role.VIEWER)
                for org in orgs[:count]
                if org not in member_of
            ],
            batch_size=2000,
        )
        token = AccessToken()
        token.set_exp(lifetime=lifetime)
        token["user_id"] = user.pk
        out[str(count)] = {"user": user.pk, "token": str(token), "orgs": orgs[:count]}
    return out


def issue_device_keys(machine_ids: list[str]) -> list[dict]:
    """One fresh device key per machine when telemetry.device_keys exists (else none)."""
    try:
        from telemetry import device_keys
    except ImportError:
        return []
    issue = getattr(device_keys, "issue_device_key", None) or getattr(device_keys, "issue", None)
    if issue is None:
        return []
    from machines.models import Machine

    keys = []
    for machine in Machine.objects.filter(pk__in=machine_ids).order_by("serial_number"):
        try:
            result = issue(machine=machine, label="bench")
        except TypeError:
            result = issue(machine)
        plaintext = result[1] if isinstance(result, tuple) else getattr(result, "plaintext", result)
        keys.append({"machine": str(machine.pk), "key": str(plaintext)})
    return keys


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--machines", type=int, default=100)
    parser.add_argument("--device-keys", type=int, default=0)
    parser.add_argument("--room-counts", default="", help="e.g. 1000,10000")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    url = os.environ["DATABASE_URL"]
    t0 = time.monotonic()
    ensure_database(url)
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vendhub.settings")
    django.setup()
    try:
        migrate()
    except Exception as exc:  # half-written migrations of a branch in progress: start over
        print(f"migrate failed ({exc}); recreating the bench database", file=sys.stderr)
        from django.db import connections

        connections.close_all()
        ensure_database(url, recreate=True)
        migrate()
    counts = [int(c) for c in args.room_counts.split(",") if c]
    data = fill(args.users, args.machines, args.device_keys, counts)
    with open(args.out, "wb") as f:
        f.write(orjson.dumps(data))
    print(
        orjson.dumps(
            {
                "seconds": round(time.monotonic() - t0, 2),
                "users": len(data["users"]),
                "machines": len(data["machines"]),
                "device_keys": len(data["device_keys"]),
            }
        ).decode()
    )


if __name__ == "__main__":
    main()
