"""What every API endpoint shares: the one error shape, pagination, and how errors are documented.

Every error, whatever raised it (a serializer, a permission, a domain rule, an unknown URL, a throttle, a parse
error, a bug), leaves as ``{"error": {"code": ..., "message": ..., "fields": {...}}}``; ``code`` is stable for
machines, ``message`` is for people, ``fields`` maps a request field (or header) to what is wrong with it.

This module is imported by DRF's settings (the exception handler and the pagination class), so it must not import
DRF's generic views or any app's API module at import time. The URLs are in ``config.api_urls``.
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

logger = logging.getLogger("classroom.api")


class ApiError(exceptions.APIException):
    """An error with our code, status, field messages and extra keys (``opens_at``)."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        status_code: int,
        fields: dict | None = None,
        headers: dict | None = None,
        **extra,
    ):
        super().__init__(message, code=code)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.fields = fields or {}
        self.headers = headers or {}
        self.extra = extra


def domain_error(exc) -> ApiError:
    """A domain error (``core.errors.DomainError``: it says its own code, HTTP status, fields, extra keys and headers)
    as the API's error. Read by attribute, so config imports no app."""
    return ApiError(
        exc.message,
        code=exc.code,
        status_code=exc.http_status,
        fields=exc.fields,
        headers=exc.headers,
        **exc.extra,
    )


def is_domain_error(exc) -> bool:
    return isinstance(getattr(exc, "http_status", None), int) and isinstance(getattr(exc, "code", None), str)


def _messages(detail) -> list[str]:
    if isinstance(detail, dict):
        return [f"{k}: {m}" for k, v in detail.items() for m in _messages(v)]
    if isinstance(detail, list):
        return [m for item in detail for m in _messages(item)]
    return [str(detail)]


def _fields(detail) -> dict[str, list[str]]:
    """A serializer's errors as {field: [messages]}; nested fields are joined with dots ("items.0.meeting")."""
    out: dict[str, list[str]] = {}

    def walk(prefix: str, value):
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
            for index, inner in enumerate(value):
                walk(f"{prefix}.{index}" if prefix else str(index), inner)
        else:
            out.setdefault(prefix or "non_field_errors", []).extend(_messages(value))

    walk("", detail)
    return out


def error_body(code: str, message: str, fields: dict | None = None, **extra) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}, **extra}}


def exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: every exception becomes the one error shape."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif is_domain_error(exc):
        exc = domain_error(exc)

    if not isinstance(exc, exceptions.APIException):
        view = context.get("view")
        logger.exception("API request failed", extra={"view": type(view).__name__ if view else ""})
        return Response(
            error_body("server_error", _("Something went wrong on our side; it has been logged.")),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))

    if isinstance(exc, ApiError):
        headers.update(exc.headers)
        body = error_body(exc.code, exc.message, exc.fields, **exc.extra)
    elif isinstance(exc, exceptions.ValidationError):
        fields = _fields(exc.detail)
        messages = _messages(exc.detail)
        message = "; ".join(messages) if len(messages) <= 3 else "; ".join(messages[:3]) + " …"
        body = error_body("validation_error", message or _("The request is not valid."), fields)
    else:
        detail = exc.detail
        code = getattr(detail, "code", None) or exc.default_code
        body = error_body(str(code), " ".join(_messages(detail)))
    return Response(body, status=exc.status_code, headers=headers)


class Pagination(PageNumberPagination):
    """``page`` (from 1) and ``page_size`` (1 to 100, default PAGE_SIZE). Unlike DRF's, a bad ``page`` or
    ``page_size`` is a 400 naming it rather than a 404 or silently the default; a page past the last one is a 404."""

    page_size_query_param = "page_size"
    max_page_size = 100
    last_page_strings = ()  # the schema says page is a number

    def get_page_number(self, request, paginator):
        raw = request.query_params.get(self.page_query_param)
        if raw is None:
            return 1
        if not raw.isascii() or not raw.isdigit() or int(raw) < 1:
            raise exceptions.ValidationError({self.page_query_param: [_("must be a whole number from 1")]})
        return raw

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            message = _("must be a whole number from 1 to %(max)s") % {"max": self.max_page_size}
            raise exceptions.ValidationError({self.page_size_query_param: [message]})
        return int(raw)

    def requested_window(self, request) -> slice | None:
        """The rows of the page ``request`` asks for, checked as paginate_queryset checks them: a list may read
        them with its count, in one query. None for a page no database could reach (past 2**62 rows)."""
        size, number = self.get_page_size(request), int(self.get_page_number(request, None))
        return slice((number - 1) * size, number * size) if number * size < 2**62 else None

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"]["minimum"] = 1
            elif parameter["name"] == self.page_size_query_param:
                parameter["schema"].update({"minimum": 1, "maximum": self.max_page_size})
        return parameters


# --- documentation ----------------------------------------------------------------------------------------------------


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, for machines: e.g. validation_error, class_full, join_refused.")
    message = serializers.CharField(help_text="For people; names the field or the time when there is one.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Request field (or header) -> what is wrong with it. Empty when no field is to blame.",
    )
    opens_at = serializers.DateTimeField(
        required=False, help_text="join_refused only: when joining opens (UTC), if it is still ahead."
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


ERROR_DESCRIPTIONS = {
    400: "validation_error (fields name what is wrong), invalid_time, parse_error (the body is not JSON)",
    401: "not_authenticated or authentication_failed: log in (session) or send `Authorization: Token <key>`",
    403: "permission_denied: your role may not do this, or the object is not yours",
    404: "not_found: no such object among those you may see (or, on a list, a page past the last one)",
    405: "method_not_allowed",
    406: "not_acceptable: this API answers only application/json",
    409: "a state or capacity conflict (class_full, already_booked, illegal_transition, ...)",
    415: "unsupported_media_type: send application/json",
    422: "idempotency_key_reused: this Idempotency-Key was first used with a different request",
    429: "throttled: too many requests; Retry-After says when to try again",
}


def example(name: str, code: str, message: str, fields: dict | None = None, **extra) -> OpenApiExample:
    return OpenApiExample(name, value=error_body(code, message, fields, **extra), response_only=True)


def read_only_schema(
    tag: str, *, list_summary: str, one_summary: str, example_name: str, value: dict, description=None
):
    """The schema of a read-only viewset: its list and retrieve operations, each with the example answer."""

    def operation(summary, description=None):
        examples = [OpenApiExample(example_name, value=value, response_only=True)]
        return extend_schema(tags=[tag], summary=summary, description=description, examples=examples)

    return extend_schema_view(list=operation(list_summary, description), retrieve=operation(one_summary))


def error_response(status_code: int, *examples: OpenApiExample, description: str = "") -> OpenApiResponse:
    examples = list(examples) or [COMMON_EXAMPLES[status_code]]
    return OpenApiResponse(
        ErrorSerializer, description=description or ERROR_DESCRIPTIONS[status_code], examples=examples
    )


COMMON_EXAMPLES = {
    400: example(
        "validation_error",
        "validation_error",
        "page_size: A valid integer is required.",
        {"page_size": ["A valid integer is required."]},
    ),
    401: example("not_authenticated", "not_authenticated", "Authentication credentials were not provided."),
    403: example("permission_denied", "permission_denied", "You do not have permission to perform this action."),
    404: example("not_found", "not_found", "No Meeting matches the given query."),
    405: example("method_not_allowed", "method_not_allowed", 'Method "PUT" not allowed.'),
    406: example("not_acceptable", "not_acceptable", "Could not satisfy the request Accept header."),
    415: example("unsupported_media_type", "unsupported_media_type", 'Unsupported media type "text/plain" in request.'),
    422: example(
        "idempotency_key_reused",
        "idempotency_key_reused",
        "This Idempotency-Key was used with a different request; use a new key for a new request.",
        {"Idempotency-Key": ["already used with a different request"]},
    ),
    429: example("throttled", "throttled", "Request was throttled. Expected available in 42 seconds."),
}


RETRY_AFTER = {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}}
REPLAYED = {
    "description": "Present (true) when this is the stored answer to an earlier request with the same Idempotency-Key.",
    "schema": {"type": "string", "enum": ["true"]},
}


def _document_headers(operation: dict, responses: dict) -> None:
    idempotent = any(p.get("name") == "Idempotency-Key" for p in operation.get("parameters", []))
    for code, response in responses.items():
        headers = {}
        if code == "429" or (code == "409" and "room_not_ready" in str(response)):
            headers["Retry-After"] = RETRY_AFTER
        if idempotent and code[0] in "24":
            headers["Idempotent-Replayed"] = REPLAYED
        if headers:
            response.setdefault("headers", {}).update(headers)


def add_error_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: every operation documents the errors every endpoint can give (401, 403,
    406; 404 with a path parameter; 400 with a body or query parameters; 415 with a body), with the shared shape and
    an example, unless the view documented that status itself."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    if "Error" not in schemas:  # every view references it; kept for a schema generated from a subset of views
        schemas["Error"] = {"type": "object", "properties": {"error": {"type": "object"}}, "required": ["error"]}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            params = operation.get("parameters", [])
            statuses = {403, 406}
            if operation.get("operationId") != "auth_token_create":  # the one operation open to anyone
                statuses.add(401)
            if any(p.get("in") == "path" for p in params) or "{" in path:
                statuses.add(404)
            if any(p.get("name") == "page" for p in params):  # a page past the last one
                statuses.add(404)
            if "requestBody" in operation:
                statuses |= {400, 415}
            if any(p.get("in") == "query" for p in params):
                statuses.add(400)
            responses = operation.setdefault("responses", {})
            _document_headers(operation, responses)
            for code in sorted(statuses):
                if str(code) in responses:
                    continue
                ex = COMMON_EXAMPLES[code]
                responses[str(code)] = {
                    "description": ERROR_DESCRIPTIONS[code],
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/Error"},
                            "examples": {ex.name: {"value": ex.value, "summary": ex.name}},
                        }
                    },
                }
    return result
