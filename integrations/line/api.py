"""API: a binding code for the caller (``POST /api/v1/me/line-code/``) and unlinking one of the caller's LINE
contacts (``DELETE /api/v1/me/line-contacts/{id}/``). Thin: the rules are in ``integrations.line.linking``; the
caller's contacts are listed in ``GET /api/v1/me/`` (``line_contacts``)."""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from classroom.serializers import StrictCharField, student_of, utc_iso
from config.api import error_response, example
from integrations.line import linking


class LineCodeRequestSerializer(serializers.Serializer):
    role = serializers.ChoiceField(
        choices=linking.Role.choices,
        default=linking.Role.STUDENT,
        help_text="student: for your own LINE; guardian: for a parent's LINE (they get the join link by default).",
    )
    channel = StrictCharField(
        required=False, max_length=50, help_text="The LINE channel's slug; needed only when the school has several."
    )


class LineCodeSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Send it in the school's LINE chat. Single use; shown only this once.")
    expires_at = serializers.DateTimeField(help_text="24 hours after it was made (UTC).")
    role = serializers.CharField()
    channel = serializers.CharField()


class LineCodeView(APIView):
    @extend_schema(
        operation_id="me_line_code_create",
        tags=["me"],
        summary="Get a code to link a LINE account (yours or a parent's)",
        description="The code links the LINE account that sends it in the school's LINE chat to you (role "
        "`student`) or as your guardian (role `guardian`). Single use, valid 24 hours; a LINE account may send at "
        "most 5 wrong codes an hour.",
        request=LineCodeRequestSerializer,
        responses={
            201: LineCodeSerializer,
            400: error_response(
                400,
                example(
                    "several channels",
                    "validation_error",
                    "Say which LINE channel the code is for; one of: taipei, saigon.",
                    {"channel": ["Say which LINE channel the code is for; one of: taipei, saigon."]},
                ),
            ),
            403: error_response(403),
        },
        examples=[
            OpenApiExample("for a parent", value={"role": "guardian"}, request_only=True),
            OpenApiExample(
                "a code",
                value={
                    "code": "K7QM-3XPA",
                    "expires_at": "2026-07-02T09:00:00Z",
                    "role": "guardian",
                    "channel": "demo",
                },
                response_only=True,
            ),
        ],
    )
    def post(self, request):
        student = student_of(request.user)
        if student is None:
            raise PermissionDenied(_("Only a student account can link LINE accounts."))
        serializer = LineCodeRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        code, expires_at, channel = linking.issue_code(
            student,
            role=serializer.validated_data["role"],
            channel_slug=serializer.validated_data.get("channel"),
            now=timezone.now(),
            actor=request.user,
        )
        body = {
            "code": code,
            "expires_at": utc_iso(expires_at),
            "role": serializer.validated_data["role"],
            "channel": channel.slug,
        }
        return Response(body, status=status.HTTP_201_CREATED)


class LineContactView(APIView):
    @extend_schema(
        operation_id="me_line_contact_destroy",
        tags=["me"],
        summary="Unlink one of your LINE contacts",
        description="Nothing more is sent to that LINE account. Its id is in `line_contacts` of GET /api/v1/me/.",
        request=None,
        responses={204: None, 404: error_response(404)},
    )
    def delete(self, request, pk: int):
        linking.unlink_my_contact(request.user, pk, now=timezone.now())
        return Response(status=status.HTTP_204_NO_CONTENT)
