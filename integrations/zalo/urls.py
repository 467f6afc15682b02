from django.urls import path

from integrations.zalo import views

urlpatterns = [
    path("webhook/<slug:slug>/", views.webhook, name="zalo-webhook"),
]
