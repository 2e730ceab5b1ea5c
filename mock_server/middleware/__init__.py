"""The HTTP plumbing between uvicorn and the API: ASGI middlewares and the steps of Connexion's stack."""
