"""`openapi.yaml` is valid, lints clean, states every fact of the docs, and its examples hold."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from openapi_spec_validator import validate

ROOT = Path(__file__).resolve().parent.parent
SPEC_PATH = ROOT / "openapi.yaml"
REDOCLY = ROOT / "node_modules" / ".bin" / "redocly"

# Every fact the public docs state, copied here so the test needs nothing outside the repo.
# (method, path) -> operationId
DOCS_OPERATIONS = {
    ("get", "/leads"): "listLeads",
    ("post", "/leads"): "createLead",
    ("get", "/leads/{id}"): "getLead",
    ("put", "/leads/{id}"): "updateLead",
    ("delete", "/leads/{id}"): "deleteLead",
    ("post", "/leads/{id}/convert"): "convertLead",
}
STATUSES = ["new", "contacted", "qualified", "unqualified", "converted", "lost"]
INTEREST_LEVELS = ["hot", "warm", "cold"]
LEAD_TYPES = ["buyer", "seller", "both"]
# operationId -> {parameter name: facts}
DOCS_PARAMETERS: dict[str, dict[str, dict[str, Any]]] = {
    "listLeads": {
        "status": {"in": "query", "required": False, "enum": STATUSES},
        "interest_level": {"in": "query", "required": False, "enum": INTEREST_LEVELS},
        "page": {"in": "query", "required": False, "type": "integer", "default": 1, "minimum": 1},
        "limit": {"in": "query", "required": False, "type": "integer", "default": 25, "minimum": 1, "maximum": 100},
    },
    **{
        operation: {"id": {"in": "path", "required": True, "type": "string", "format": "uuid"}}
        for operation in ("getLead", "updateLead", "deleteLead", "convertLead")
    },
}
# operationId -> response codes the docs list
DOCS_RESPONSES = {
    "listLeads": {"200", "401", "429", "500"},
    "createLead": {"201", "400", "401", "429", "500"},
    "getLead": {"200", "401", "404", "429", "500"},
    "updateLead": {"200", "400", "401", "404", "429", "500"},
    "deleteLead": {"200", "401", "404", "429", "500"},
    "convertLead": {"200", "401", "404", "429", "500"},
}
# operationId -> request body field -> facts
DOCS_BODY_FIELDS: dict[str, dict[str, dict[str, Any]]] = {
    "createLead": {
        "name": {"type": "string", "required": True},
        "email": {"type": "string", "required": False},
        "phone": {"type": "string", "required": False},
        "source": {"type": "string", "required": False},
        "lead_type": {"type": "string", "required": False, "enum": LEAD_TYPES},
    },
    "updateLead": {
        "status": {"type": "string", "required": False, "enum": STATUSES},
        "interest_level": {"type": "string", "required": False, "enum": INTEREST_LEVELS},
        "version": {"type": "integer", "required": False},
    },
    "convertLead": {
        # The docs' default (`buyer`) is stated in words: a schema `default` makes generated types require the field.
        "clientType": {"type": "string", "required": False, "enum": LEAD_TYPES},
    },
}
# Fields the docs' example answers show, by where they sit in the success envelope.
LEAD_FIELDS_IN_DOCS = [
    "id", "user_id", "name", "email", "phone", "source", "status", "lead_type", "interest_level", "budget",
    "timeline", "message", "notes", "last_contact_date", "next_follow_up", "converted_to_client_id", "version",
    "created_at", "updated_at",
]
DOCS_RESPONSE_FIELDS: dict[tuple[str, str], list[str]] = {
    ("listLeads", "200"): ["success", "timestamp", "data.leads", "data.meta.page", "data.meta.limit",
                           "data.meta.total", "data.meta.totalPages", "data.meta.hasMore", "data.stats", "data.cursors",
                           *[f"data.leads[].{name}" for name in LEAD_FIELDS_IN_DOCS]],
    ("createLead", "201"): ["success", "message", "timestamp", *[f"data.{name}" for name in LEAD_FIELDS_IN_DOCS]],
    ("getLead", "200"): ["success", "timestamp", *[f"data.{name}" for name in LEAD_FIELDS_IN_DOCS]],
    ("updateLead", "200"): ["success", "timestamp", *[f"data.{name}" for name in LEAD_FIELDS_IN_DOCS]],
    ("deleteLead", "200"): ["success", "data", "timestamp"],
    ("convertLead", "200"): ["success", "message", "timestamp", "data.client.id", "data.client.contact_id",
                             "data.client.client_type", "data.client.status", "data.client.price_range_min",
                             "data.client.price_range_max", "data.lead.id", "data.lead.lead_status",
                             "data.lead.client_id", "data.primaryContactId", "data.additionalContactsCount"],
}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return yaml.safe_load(SPEC_PATH.read_text())


def deref(spec: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def flatten(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """A field's schema with `$ref` and single `allOf` wrappers merged into one dict."""
    schema = deref(spec, schema)
    merged: dict[str, Any] = {}
    for branch in schema.get("allOf", []):
        merged.update(flatten(spec, branch))
    merged.update({key: value for key, value in schema.items() if key != "allOf"})
    return merged


def schema_properties(spec: dict[str, Any], schema: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """Properties and required names of a schema, merging `allOf` branches."""
    schema = deref(spec, schema)
    properties = dict(schema.get("properties", {}))
    required = set(schema.get("required", []))
    for branch in schema.get("allOf", []):
        branch_properties, branch_required = schema_properties(spec, branch)
        properties.update(branch_properties)
        required |= branch_required
    return properties, required


def operations(spec: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    found = {}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "delete", "patch"}:
                found[operation["operationId"]] = (method, path, operation)
    return found


def parameters_of(spec: dict[str, Any], path: str, operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    listed = spec["paths"][path].get("parameters", []) + operation.get("parameters", [])
    resolved = [deref(spec, parameter) for parameter in listed]
    return {parameter["name"]: parameter for parameter in resolved}


def test_spec_is_valid_openapi_3_0(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.0."), "Connexion 3.3 serves OpenAPI 3.0 only"
    validate(spec)


def test_spec_lints_clean_under_redocly_recommended() -> None:
    if not REDOCLY.exists():
        pytest.fail("Redocly CLI is missing: run `make test` (it runs `npm ci`) first")
    result = subprocess.run(
        [str(REDOCLY), "lint", str(SPEC_PATH), "--format=json"], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    report = json.loads(result.stdout[result.stdout.index("{"):])
    problems = [f"{p['severity']} {p['ruleId']}: {p['message']}" for p in report["problems"]]
    assert problems == [], "\n".join(problems)
    assert result.returncode == 0


def test_every_documented_operation_is_in_the_spec(spec: dict[str, Any]) -> None:
    found = {(method, path): operation_id for operation_id, (method, path, _) in operations(spec).items()}
    assert found == DOCS_OPERATIONS
    assert [server["url"] for server in spec["servers"]][0] == "https://api.actuallycare.com/v1"


@pytest.mark.parametrize("operation_id", sorted(DOCS_PARAMETERS))
def test_documented_parameters_are_stated_exactly(spec: dict[str, Any], operation_id: str) -> None:
    _, path, operation = operations(spec)[operation_id]
    parameters = parameters_of(spec, path, operation)
    for name, facts in DOCS_PARAMETERS[operation_id].items():
        assert name in parameters, f"{operation_id}: parameter {name} missing"
        parameter = parameters[name]
        schema = deref(spec, parameter["schema"])
        assert parameter["in"] == facts["in"], f"{operation_id}.{name}: in"
        assert parameter.get("required", False) == facts["required"], f"{operation_id}.{name}: required"
        for key in ("type", "format", "default", "minimum", "maximum", "enum"):
            if key in facts:
                assert schema.get(key) == facts[key], f"{operation_id}.{name}: {key} is {schema.get(key)!r}"


def test_list_takes_the_optional_cursor(spec: dict[str, Any]) -> None:
    _, path, operation = operations(spec)["listLeads"]
    cursor = parameters_of(spec, path, operation)["cursor"]
    assert cursor["in"] == "query" and not cursor.get("required", False)


@pytest.mark.parametrize("operation_id", sorted(DOCS_RESPONSES))
def test_documented_responses_are_all_listed_plus_400(spec: dict[str, Any], operation_id: str) -> None:
    _, _, operation = operations(spec)[operation_id]
    codes = set(operation["responses"])
    missing = (DOCS_RESPONSES[operation_id] | {"400"}) - codes
    assert not missing, f"{operation_id}: responses {sorted(missing)} missing"


def test_conflict_and_body_errors_are_listed_where_they_apply(spec: dict[str, Any]) -> None:
    found = operations(spec)
    for operation_id in ("updateLead", "convertLead"):
        assert "409" in found[operation_id][2]["responses"]
    for operation_id in ("createLead", "updateLead", "convertLead"):
        assert {"413", "415"} <= set(found[operation_id][2]["responses"])


@pytest.mark.parametrize("operation_id", sorted(DOCS_BODY_FIELDS))
def test_documented_body_fields_are_stated_exactly(spec: dict[str, Any], operation_id: str) -> None:
    _, _, operation = operations(spec)[operation_id]
    body = operation["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    properties, required = schema_properties(spec, schema)
    for name, facts in DOCS_BODY_FIELDS[operation_id].items():
        assert name in properties, f"{operation_id}: body field {name} missing"
        field = flatten(spec, properties[name])
        assert field.get("type") == facts["type"], f"{operation_id}.{name}: type"
        assert (name in required) == facts["required"], f"{operation_id}.{name}: required"
        for key in ("enum", "default"):
            if key in facts:
                assert field.get(key) == facts[key], f"{operation_id}.{name}: {key} is {field.get(key)!r}"
    assert body.get("required", False) == (operation_id != "convertLead")


def test_the_convert_default_is_stated_without_a_schema_default(spec: dict[str, Any]) -> None:
    properties, _ = schema_properties(spec, {"$ref": "#/components/schemas/ConvertRequest"})
    assert "default" not in properties["clientType"] and "`buyer` when left out" in properties["clientType"]["description"]


def test_the_update_body_needs_a_field_without_combinators_generators_cannot_type(spec: dict[str, Any]) -> None:
    update = spec["components"]["schemas"]["LeadUpdate"]
    assert update["minProperties"] == 1 and not {"anyOf", "oneOf", "allOf", "not"} & set(update)
    assert "400 NO_UPDATES" in update["description"]


def test_no_schema_takes_a_name_that_generated_code_reserves(spec: dict[str, Any]) -> None:
    # `Error` becomes `ModelError` in TypeScript clients; `Object`, `Date`, `Response` clash likewise.
    reserved = {"Error", "Object", "Date", "Response", "Request", "Type", "String", "Number", "Boolean", "Array"}
    assert not reserved & set(spec["components"]["schemas"])


def test_name_is_bounded_one_to_255(spec: dict[str, Any]) -> None:
    properties, _ = schema_properties(spec, {"$ref": "#/components/schemas/LeadCreate"})
    name = flatten(spec, properties["name"])
    assert (name["minLength"], name["maxLength"]) == (1, 255)


def field_paths(spec: dict[str, Any], schema: dict[str, Any], prefix: str = "") -> set[str]:
    """Every dotted field path a response schema declares (`[]` marks array items)."""
    schema = deref(spec, schema)
    paths: set[str] = set()
    if schema.get("type") == "array":
        return field_paths(spec, schema["items"], prefix + "[]")
    properties, _ = schema_properties(spec, schema)
    for name, child in properties.items():
        path = f"{prefix}.{name}" if prefix else name
        paths.add(path)
        paths |= field_paths(spec, child, path)
    return paths


@pytest.mark.parametrize(("operation_id", "status"), sorted(DOCS_RESPONSE_FIELDS))
def test_documented_response_fields_are_in_the_schema(spec: dict[str, Any], operation_id: str, status: str) -> None:
    _, _, operation = operations(spec)[operation_id]
    response = deref(spec, operation["responses"][status])
    declared = field_paths(spec, response["content"]["application/json"]["schema"])
    missing = [path for path in DOCS_RESPONSE_FIELDS[(operation_id, status)] if path not in declared]
    assert not missing, f"{operation_id} {status}: fields {missing} missing"


def test_every_lead_field_is_required_so_absent_values_are_null(spec: dict[str, Any]) -> None:
    properties, required = schema_properties(spec, {"$ref": "#/components/schemas/Lead"})
    assert set(LEAD_FIELDS_IN_DOCS) == set(properties) == required


def test_every_operation_needs_the_api_key(spec: dict[str, Any]) -> None:
    scheme = spec["components"]["securitySchemes"]["ApiKeyAuth"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "X-API-Key")
    for operation_id, (_, _, operation) in operations(spec).items():
        assert operation.get("security", spec["security"]) == [{"ApiKeyAuth": []}], operation_id


def test_every_response_carries_the_rate_limit_headers(spec: dict[str, Any]) -> None:
    for operation_id, (_, _, operation) in operations(spec).items():
        for status, response in operation["responses"].items():
            headers = deref(spec, response).get("headers", {})
            assert {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= set(headers), (operation_id, status)
            if status == "429":
                assert "Retry-After" in headers, operation_id


def test_create_links_to_every_operation_on_the_new_lead(spec: dict[str, Any]) -> None:
    _, _, operation = operations(spec)["createLead"]
    links = {deref(spec, link)["operationId"] for link in operation["responses"]["201"]["links"].values()}
    assert links == {"getLead", "updateLead", "deleteLead", "convertLead"}


def collect_examples(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any], Any]]:
    """(where, schema, example value) for every media-type example in the spec."""
    found = []
    for operation_id, (_, _, operation) in operations(spec).items():
        media_types = []
        if "requestBody" in operation:
            media_types.append((f"{operation_id} request", operation["requestBody"]["content"]["application/json"]))
        for status, response in operation["responses"].items():
            content = deref(spec, response).get("content", {})
            if "application/json" in content:
                media_types.append((f"{operation_id} {status}", content["application/json"]))
        for where, media in media_types:
            for name, example in media.get("examples", {}).items():
                found.append((f"{where} example {name}", media["schema"], deref(spec, example)["value"]))
    return found


def openapi_to_json_schema(spec: dict[str, Any], node: Any) -> Any:
    """Inlines `$ref`s and turns `nullable: true` into JSON Schema's null type."""
    node = deref(spec, node)
    if isinstance(node, list):
        return [openapi_to_json_schema(spec, item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: openapi_to_json_schema(spec, value) for key, value in node.items() if key not in {"nullable", "example"}}
    if node.get("nullable"):
        converted = {"anyOf": [converted, {"type": "null"}]}
    return converted


def test_every_example_validates_against_its_schema(spec: dict[str, Any]) -> None:
    examples = collect_examples(spec)
    assert len(examples) >= 12
    checker = jsonschema.Draft4Validator.FORMAT_CHECKER
    for where, schema, value in examples:
        json_schema = openapi_to_json_schema(spec, schema)
        errors = list(jsonschema.Draft7Validator(json_schema, format_checker=checker).iter_errors(value))
        assert not errors, f"{where}: {errors[0].message}"


def test_the_docs_example_lead_appears_in_the_examples(spec: dict[str, Any]) -> None:
    values = json.dumps([value for _, _, value in collect_examples(spec)])
    for fact in ("f2b8d4a6-3c5e-4f7a-9b1d-8e0c6a4f2d9b", "Rachel Kim", "Jordan Lee", "(661) 555-0198", "342000", "418000"):
        assert fact in values, fact
