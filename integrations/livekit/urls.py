from django.urls import path

from integrations.livekit import views

urlpatterns = [
    path("webhook/", views.webhook, name="livekit-webhook"),
]
