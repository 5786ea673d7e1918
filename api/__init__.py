"""KnownFix's HTTP API (issue 11): a versioned REST API, /api/v1/…, over the Desk.

`api.app.create_app(desk)` builds the FastAPI application around a Desk that is already
open (one model, index and database per process); `knownfix api` serves it with uvicorn.
Handlers only parse the request, call the Desk as the token's user, and shape the answer;
every error becomes RFC 9457 problem+json in one place (api/problems.py).
"""
