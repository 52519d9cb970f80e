"""Credentials for MLflow's FastAPI-native routes on releases whose basic-auth does not check them.

Under uvicorn, MLflow serves its Flask app mounted in a FastAPI app and adds FastAPI routers in
front of it (mlflow/server/fastapi_app.py: create_fastapi_app). Basic-auth's Flask
before_request hook never sees those routers' requests. MLflow 3.5.0's basic-auth adds nothing
for them, so `/v1/traces` (OTLP trace ingestion into any experiment) and `/ajax-api/3.0/jobs/*`
answer without credentials; later releases add `add_fastapi_permission_middleware`
(mlflow/server/auth/__init__.py) and this module is then not used.

Here every request to a FastAPI-native route needs valid basic-auth credentials (401 otherwise),
and an OTLP export needs EDIT on the experiment in its `x-mlflow-experiment-id` header (403
otherwise), the permission MLflow's own middleware requires for logging traces.
"""

import base64
import binascii

from starlette.concurrency import run_in_threadpool
from starlette.responses import PlainTextResponse
from starlette.routing import Match, Mount


def _credentials(header):
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        username, sep, password = base64.b64decode(value).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (username, password) if sep else None


def add_native_route_auth(fastapi_app, basic_auth):
    native = [r for r in fastapi_app.routes if not isinstance(r, Mount)]
    store = basic_auth.store

    def is_native(scope):
        return any(r.matches(scope)[0] != Match.NONE for r in native)

    def can_log_traces(username, experiment_id):
        if store.get_user(username).is_admin:
            return True
        perm = basic_auth._get_permission_from_store_or_default(
            lambda: store.get_experiment_permission(experiment_id, username).permission
        )
        return perm.can_update

    @fastapi_app.middleware("http")
    async def require_credentials(request, call_next):
        if not is_native(request.scope):
            return await call_next(request)  # Flask: basic-auth's before_request decides
        creds = _credentials(request.headers.get("authorization"))
        if creds is None or not await run_in_threadpool(store.authenticate_user, *creds):
            return PlainTextResponse(
                "You are not authenticated.", 401, {"WWW-Authenticate": 'Basic realm="mlflow"'}
            )
        experiment_id = request.headers.get("x-mlflow-experiment-id")
        if experiment_id is not None and not await run_in_threadpool(
            can_log_traces, creds[0], experiment_id
        ):
            return PlainTextResponse("Permission denied", 403)
        return await call_next(request)
