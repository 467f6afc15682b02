from django.contrib import admin
from django.urls import include, path

from bookings import views as booking_views
from core import views as core_views
from integrations.local import views as local_views
from meetings import feed_views, recording_views

urlpatterns = [
    path("", core_views.home, name="home"),
    path("admin/", admin.site.urls),
    # POST /i18n/setlang/: the admin's language chooser (templates/admin/base_site.html) keeps the choice in a cookie.
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("config.api_urls")),  # /api/v1/, /api/schema/, /api/docs/, /api/auth/
    path("healthz", core_views.healthz, name="healthz"),
    path("j/<str:token>/", booking_views.join_link, name="join-link"),
    path("feedback/<str:token>/", booking_views.feedback_link, name="feedback-link"),
    path("rooms/<str:name>/", local_views.room, name="local-room"),
    path("calendar/<str:token>.ics", feed_views.calendar_feed, name="calendar-feed"),
    path("recordings/<int:meeting_id>/", recording_views.recording_page, name="recording-page"),
    path("recordings/play/<str:token>/", recording_views.play, name="recording-play"),
    path("integrations/livekit/", include("integrations.livekit.urls")),
    path("integrations/zoom/", include("integrations.zoom.urls")),
    path("integrations/line/", include("integrations.line.urls")),
    path("integrations/zalo/", include("integrations.zalo.urls")),
]
