from django.contrib import admin

from classroom.models import Course, Student, Teacher


@admin.register(Teacher)
class TeacherAdmin(admin.ModelAdmin):
    list_display = ["display_name", "user", "email", "time_zone", "commission_rate", "created_at"]
    list_filter = ["time_zone", "language"]
    search_fields = ["display_name", "email", "user__username"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"
    raw_id_fields = ["user"]


@admin.register(Student)
class StudentAdmin(admin.ModelAdmin):
    """Students; their LINE contacts (an inline, with the link actions) are added by integrations.line.admin."""

    list_display = ["display_name", "email", "time_zone", "created_at"]
    list_filter = ["time_zone", "language"]
    search_fields = ["display_name", "email", "user__username"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"
    raw_id_fields = ["user"]


@admin.register(Course)
class CourseAdmin(admin.ModelAdmin):
    list_display = ["title", "price", "currency", "capacity", "min_participants", "default_duration_minutes"]
    list_filter = ["currency"]
    search_fields = ["title", "description"]
    date_hierarchy = "created_at"
