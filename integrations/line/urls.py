from django.urls import path

from integrations.line import views

urlpatterns = [
    path("webhook/<slug:slug>/", views.webhook, name="line-webhook"),
    path("link/<slug:slug>/", views.account_link, name="line-account-link"),
    path("imagemap/<str:kind>/<int:width>", views.imagemap_image, name="line-imagemap"),
]
