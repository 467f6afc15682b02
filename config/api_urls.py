"""URLs of the API (``/api/v1/``), its OpenAPI schema and docs. Everything here needs a login except getting a token."""

from django.contrib.auth.decorators import login_required
from django.urls import include, path, re_path
from django.utils.translation import gettext as _
from drf_spectacular.renderers import OpenApiJsonRenderer, OpenApiYamlRenderer
from drf_spectacular.utils import extend_schema, extend_schema_view
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.routers import SimpleRouter
from rest_framework.views import APIView

from bookings.api import BookingViewSet, PayoutViewSet
from classroom.api import CourseViewSet, MeView, TokenView
from integrations.line.api import LineCodeView, LineContactView
from meetings.api import AdminCloseMeetingView, AdminOpenMeetingView, MeetingViewSet
from meetings.series_api import CalendarTokenView, SeriesViewSet

router = SimpleRouter()
router.register("meetings", MeetingViewSet, basename="meetings")
router.register("bookings", BookingViewSet, basename="bookings")
router.register("payouts", PayoutViewSet, basename="payouts")
router.register("courses", CourseViewSet, basename="courses")
router.register("series", SeriesViewSet, basename="series")


class UnknownEndpoint(APIView):
    """Any other /api/ URL: a 404 in the API's error shape (not Django's HTML page), with a hint about the slash."""

    permission_classes = [AllowAny]
    authentication_classes = []

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.path.endswith("/"):
            raise NotFound(_("No API endpoint at %(path)s") % {"path": request.path})
        raise NotFound(_("No API endpoint at %(path)s (did you mean %(path)s/ ?)") % {"path": request.path})


@extend_schema_view(get=extend_schema(exclude=True))
class SchemaView(SpectacularAPIView):
    """The OpenAPI 3 schema: JSON by default, YAML with ``?format=yaml``; its errors in the API's JSON error shape."""

    renderer_classes = [OpenApiJsonRenderer, OpenApiYamlRenderer]

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.status_code >= 400:
            response.accepted_renderer, response.accepted_media_type = JSONRenderer(), "application/json"
        return response


v1 = [
    path("auth/token/", TokenView.as_view(), name="auth-token"),
    path("me/", MeView.as_view(), name="me"),
    path("me/line-code/", LineCodeView.as_view(), name="me-line-code"),
    path("me/line-contacts/<int:pk>/", LineContactView.as_view(), name="me-line-contact"),
    path("me/calendar-token/", CalendarTokenView.as_view(), name="me-calendar-token"),
    path("admin/meetings/<int:pk>/open/", AdminOpenMeetingView.as_view(), name="admin-meeting-open"),
    path("admin/meetings/<int:pk>/close/", AdminCloseMeetingView.as_view(), name="admin-meeting-close"),
    *router.urls,
]

urlpatterns = [
    path("api/v1/", include(v1)),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path(
        "api/docs/",
        login_required(SpectacularSwaggerView.as_view(url_name="schema"), login_url="/api/auth/login/"),
        name="swagger-ui",
    ),
    # Session login for people (and Swagger UI); apps use tokens.
    path("api/auth/", include("rest_framework.urls")),
    re_path(r"^api/.*$", UnknownEndpoint.as_view(), name="api-unknown"),
]
