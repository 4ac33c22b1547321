"""A client of Mosquitto's dynamic-security plugin: commands published on
`$CONTROL/dynamic-security/v1`, answers read from `…/response` (matched by correlation
data), over one MQTT connection with the server's own account (the admin role)."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid

import aiomqtt

from devices.broker import CONTROL_TOPIC, MqttAddress

RESPONSE_TOPIC = f"{CONTROL_TOPIC}/response"
#: The plugin's answers when the object a command names does not exist.
_NOT_FOUND = ("not found",)


class DynsecError(Exception):
    """The broker refused the connection, or answered a command with an error, or not in
    time."""


class DynsecSession:
    """`async with DynsecSession(address) as session: await session.run({...})`."""

    def __init__(self, address: MqttAddress, *, timeout: float = 3.0) -> None:
        self.address, self.timeout = address, timeout
        self._client: aiomqtt.Client | None = None
        self._ids = itertools.count(1)
        self._waiting: dict[str, asyncio.Future] = {}
        self._reader: asyncio.Task | None = None

    async def __aenter__(self) -> DynsecSession:
        self._client = aiomqtt.Client(
            self.address.host, self.address.port, username=self.address.username,
            password=self.address.password, protocol=aiomqtt.ProtocolVersion.V5,
            identifier=f"vendhub-dynsec-{uuid.uuid4().hex[:12]}", timeout=self.timeout)
        try:
            async with asyncio.timeout(self.timeout):
                await self._client.__aenter__()
                granted = await self._client.subscribe(RESPONSE_TOPIC, qos=1)
        except (aiomqtt.MqttError, OSError, TimeoutError) as error:
            raise DynsecError(f"cannot use the broker's control API: {error!r}") from error
        if granted[0].is_failure:
            await self._client.__aexit__(None, None, None)
            raise DynsecError(f"{self.address.username} may not use the control API")
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc_info) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self._client is not None:
            try:
                await self._client.__aexit__(*exc_info)
            except aiomqtt.MqttError:
                pass  # the broker went away: nothing left to close

    async def _read(self) -> None:
        async for message in self._client.messages:
            try:
                responses = json.loads(message.payload).get("responses", [])
            except (ValueError, AttributeError):
                continue
            for response in responses:
                future = self._waiting.pop(str(response.get("correlationData")), None)
                if future is not None and not future.done():
                    future.set_result(response)

    async def run(self, command: dict, *, missing_ok: bool = False) -> dict | None:
        """The command's `data` (`{}` when it has none). An error answer raises DynsecError,
        except `… not found` with `missing_ok` (then None)."""
        correlation = str(next(self._ids))
        future = asyncio.get_running_loop().create_future()
        self._waiting[correlation] = future
        try:
            await self._client.publish(
                CONTROL_TOPIC, json.dumps({"commands": [{**command,
                                                         "correlationData": correlation}]}),
                qos=1)
            async with asyncio.timeout(self.timeout):
                response = await future
        except (aiomqtt.MqttError, TimeoutError) as error:
            raise DynsecError(f"{command['command']}: no answer from the broker ({error!r})") \
                from error
        finally:
            self._waiting.pop(correlation, None)
        error = response.get("error")
        if error:
            if missing_ok and error.lower().endswith(_NOT_FOUND):
                return None
            raise DynsecError(f"{command['command']} {command.get('username', '')}: {error}")
        return response.get("data", {})
