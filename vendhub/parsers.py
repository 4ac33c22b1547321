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

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser as DRFJSONParser


class JSONParser(DRFJSONParser):
    """`application/json`, as DRF parses it; a body nested too deeply is a 400."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - the document is nested too deeply") from exc
