"""A conformance suite that checks any Leads API server against `openapi.yaml` and its rules."""
