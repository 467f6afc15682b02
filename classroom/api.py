"""API: logging in (token), the caller's profile (``me``) and the course catalogue."""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import generics, status, viewsets
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from classroom import tokens
from classroom.models import ApiToken, Course
from classroom.serializers import CourseSerializer, LoginSerializer, MeSerializer, TokenSerializer, utc_iso
from config.api import ApiError, error_response, example, read_only_schema

ME_EXAMPLE = {
    "id": 5,
    "username": "alice",
    "email": "alice@example.com",
    "roles": ["student"],
    "display_name": "Alice",
    "teacher_id": None,
    "student_id": 2,
    "time_zone": "Asia/Ho_Chi_Minh",
    "line_contacts": [
        {
            "id": 3,
            "channel": "demo",
            "line_user_id": "U4af4980629a1b2c3d4e5f60718293a4b",
            "role": "student",
            "following": True,
            "linked_at": "2026-06-30T09:20:00Z",
        }
    ],
    "language": "vi",
}
COURSE_EXAMPLE = {
    "id": 1,
    "title": "IELTS Practice",
    "description": "Speaking and listening, one hour.",
    "price": "10.00",
    "currency": "USD",
    "capacity": 8,
    "min_participants": 2,
    "default_duration_minutes": 60,
}


class TokenView(APIView):
    """Exchange a username and password for an API token (and revoke it)."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"

    def get_authenticators(self):
        # DELETE revokes the caller's own token, so it needs to know who the caller is.
        if getattr(self, "request", None) is not None and self.request.method == "DELETE":
            return [auth() for auth in api_settings.DEFAULT_AUTHENTICATION_CLASSES]
        return []

    def get_permissions(self):
        if self.request.method == "DELETE":
            return [IsAuthenticated()]
        return super().get_permissions()

    def get_throttles(self):
        return super().get_throttles() if self.request.method == "POST" else []

    @extend_schema(
        operation_id="auth_token_create",
        tags=["auth"],
        summary="Log in: get an API token",
        description="Every login gives a new token (each device has its own), valid until `expires_at` "
        "(API_TOKEN_TTL_HOURS after the login) or until revoked with DELETE; the server keeps only its digest, so "
        "it is shown this once. Limited to API_AUTH_THROTTLE_RATE attempts per client.",
        request=LoginSerializer,
        responses={
            200: TokenSerializer,
            400: error_response(
                400,
                example(
                    "wrong password",
                    "invalid_credentials",
                    "Unable to log in with the username and password given.",
                    {"password": ["Unable to log in with the username and password given."]},
                ),
            ),
            429: error_response(429),
        },
        examples=[
            OpenApiExample("login", value={"username": "alice", "password": "correct horse"}, request_only=True),
            OpenApiExample(
                "logged in",
                value={
                    "token": "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b",
                    "expires_at": "2026-07-08T12:00:00Z",
                    "user": ME_EXAMPLE,
                },
                response_only=True,
            ),
        ],
        auth=[],
    )
    def post(self, request):
        serializer = LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = authenticate(
            request,
            username=serializer.validated_data["username"],
            password=serializer.validated_data["password"],
        )
        if user is None or not user.is_active:
            message = _("Unable to log in with the username and password given.")
            raise ApiError(message, code="invalid_credentials", status_code=400, fields={"password": [message]})
        record, token = tokens.issue(user, now=timezone.now())
        return Response({"token": token, "expires_at": utc_iso(record.expires_at), "user": MeSerializer(user).data})

    @extend_schema(
        operation_id="auth_token_destroy",
        tags=["auth"],
        summary="Log out: revoke your API token",
        description="Revokes the token sent with this request (your other devices stay logged in). With a session "
        "login instead, revokes every API token of your account.",
        request=None,
        auth=[{"tokenAuth": []}, {"cookieAuth": []}],
        responses={204: None},
    )
    def delete(self, request):
        tokens.log_out(request.user, request.auth if isinstance(request.auth, ApiToken) else None)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    get=extend_schema(
        tags=["me"],
        summary="Your profile: roles and time zone",
        description="`roles` says what this account may do: `staff`, `teacher`, `student` (one or more).",
        examples=[OpenApiExample("a student", value=ME_EXAMPLE, response_only=True)],
    ),
    patch=extend_schema(
        tags=["me"],
        summary="Change your time zone or language",
        description="Every local time in the API is then given in this zone; your messages are written in this "
        "language (the API's own texts follow the request's Accept-Language header).",
        examples=[
            OpenApiExample(
                "move to Taipei", value={"time_zone": "Asia/Taipei", "language": "zh-hant"}, request_only=True
            ),
            OpenApiExample(
                "moved", value={**ME_EXAMPLE, "time_zone": "Asia/Taipei", "language": "zh-hant"}, response_only=True
            ),
        ],
        responses={
            200: MeSerializer,
            400: error_response(
                400,
                example(
                    "not a zone",
                    "validation_error",
                    "time_zone: Mars/Olympus is not an IANA time zone (for example Asia/Ho_Chi_Minh).",
                    {"time_zone": ["Mars/Olympus is not an IANA time zone (for example Asia/Ho_Chi_Minh)."]},
                ),
            ),
        },
    ),
)
class MeView(generics.RetrieveUpdateAPIView):
    serializer_class = MeSerializer
    http_method_names = ["get", "patch", "head", "options"]

    def get_object(self):
        return self.request.user


@read_only_schema(
    "courses",
    list_summary="All courses (to build a booking page)",
    one_summary="One course",
    example_name="a course",
    value=COURSE_EXAMPLE,
    description="Then list a course's bookable meetings with GET /api/v1/meetings/?course={id}.",
)
class CourseViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Course.objects.order_by("title", "id")
    serializer_class = CourseSerializer
