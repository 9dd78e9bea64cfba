"""JSON Schema for tool parameters: the schema itself checked when a manager saves a tool,
and the model's arguments checked against it before any call (jsonschema, Draft 2020-12)."""

import json
from functools import lru_cache

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError


class SchemaInvalid(ValueError):
    pass


class ArgumentsInvalid(ValueError):
    pass


def schema_check(schema: object) -> None:
    """A tool's parameters must be a valid JSON Schema describing an object."""
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise SchemaInvalid('The parameters must be a JSON Schema with "type": "object".')
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise SchemaInvalid(f"Not a valid JSON Schema: {exc.message}") from exc


@lru_cache(maxsize=256)
def _validator(schema_json: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads(schema_json))


def arguments_parse(raw: str, schema: dict) -> dict:
    """The model's arguments (a JSON text) as a dict that satisfies `schema`."""
    try:
        arguments = json.loads(raw or "{}")
    except ValueError as exc:
        raise ArgumentsInvalid("The arguments are not valid JSON.") from exc
    if not isinstance(arguments, dict):
        raise ArgumentsInvalid("The arguments must be a JSON object.")
    validator = _validator(json.dumps(schema, sort_keys=True))
    errors = sorted(validator.iter_errors(arguments), key=lambda e: list(e.absolute_path))
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "(root)"
        raise ArgumentsInvalid(f"{where}: {errors[0].message}"[:300])
    return arguments


def schema_without(schema: dict, name: str) -> dict:
    """The schema the model sees: without the property the server fills in (the identity)."""
    properties = schema.get("properties") or {}
    if name not in properties and name not in (schema.get("required") or []):
        return schema
    trimmed = {**schema, "properties": {k: v for k, v in properties.items() if k != name}}
    if "required" in schema:
        trimmed["required"] = [r for r in schema["required"] if r != name]
    return trimmed
