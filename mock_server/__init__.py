"""A stateful mock of the Leads API, served from `openapi.yaml` by Connexion."""
