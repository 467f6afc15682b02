from django.urls import path

from integrations.zoom import views

urlpatterns = [
    path("webhook/", views.webhook, name="zoom-webhook"),
]
