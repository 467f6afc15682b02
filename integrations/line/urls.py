from django.urls import path

from integrations.line import views

urlpatterns = [
    path("webhook/<slug:slug>/", views.webhook, name="line-webhook"),
]
