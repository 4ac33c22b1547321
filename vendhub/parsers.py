"""The API's JSON parser: DRF's, with too deeply nested bodies answered as a 400.

DRF's `JSONParser` turns a `ValueError` from the json module into a `ParseError` (400), but
a body nested deeper than the interpreter's recursion limit (`[[[[…]]]]`, 100,000 levels, a
few hundred kilobytes) makes the json module raise `RecursionError`, which DRF lets through
as a 500. Our documents nest a handful of levels, so that depth is never a real request.
Hand-written (a subclass, one `except`) rather than switching to orjson's parser: orjson
rejects lone surrogate escapes, which the stdlib accepts, with a parse error that names no
field (the serializers answer with the field's path), and turns integers beyond 64 bits
into floats.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import BaseParser
from rest_framework.parsers import JSONParser as DRFJSONParser


class JSONParser(DRFJSONParser):
    """`application/json`, as DRF parses it; a body nested too deeply is a 400."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - the document is nested too deeply") from exc


class PayloadTooLarge(APIException):
    status_code = 413
    default_code = "payload_too_large"


class PlainTextParser(BaseParser):
    """`text/plain`, at most `max_bytes` (a subclass sets it): UTF-8, else Latin-1 (DEX files
    are ASCII; Latin-1 reads any byte, so nothing is refused for its encoding). A bigger body
    is a 413 read no further than the limit."""

    media_type = "text/plain"
    max_bytes = 1024 * 1024

    def parse(self, stream, media_type=None, parser_context=None) -> str:
        if stream is None:
            return ""
        data = stream.read(self.max_bytes + 1)
        if len(data) > self.max_bytes:
            raise PayloadTooLarge(
                _("The body is larger than %(limit)d bytes.") % {"limit": self.max_bytes})
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("latin-1")
