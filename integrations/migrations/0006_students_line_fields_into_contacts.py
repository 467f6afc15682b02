"""Today's LINE fields of students become contacts, before classroom 0006 removes them from Student.

Each student with a LINE user id becomes one contact of that channel with the same following state and newest status
time, linked to that student as the student themselves (a follow-created student was the LINE user; a student staff
gave a LINE id was linked by staff), linked at the student's creation; a contact already there (after going back
and forth) is kept as it is. Nothing is lost: reversing copies the contacts
linked as students back onto their students (one per student, the newest link; guardians have no place there)."""

from django.db import migrations


def forward(apps, schema_editor):
    Student = apps.get_model("classroom", "Student")
    LineContact = apps.get_model("integrations", "LineContact")
    students = Student.objects.filter(line_user_id__isnull=False, line_channel__isnull=False).order_by("pk")
    batch = []
    for student in students.iterator(chunk_size=2000):
        batch.append(
            LineContact(
                line_channel_id=student.line_channel_id,
                line_user_id=student.line_user_id,
                following=student.line_following,
                status_changed_at=student.line_status_changed_at,
                display_name=student.display_name,
                student_id=student.pk,
                role="student",
                linked_at=student.created_at,
                created_at=student.created_at,
            )
        )
        if len(batch) >= 2000:
            LineContact.objects.bulk_create(batch, ignore_conflicts=True)
            batch = []
    LineContact.objects.bulk_create(batch, ignore_conflicts=True)


def backward(apps, schema_editor):
    Student = apps.get_model("classroom", "Student")
    LineContact = apps.get_model("integrations", "LineContact")
    contacts = LineContact.objects.filter(role="student", student__isnull=False).order_by("student_id", "-linked_at")
    seen = set()
    for contact in contacts.iterator():
        if contact.student_id in seen:
            continue
        seen.add(contact.student_id)
        Student.objects.filter(pk=contact.student_id).update(
            line_channel_id=contact.line_channel_id,
            line_user_id=contact.line_user_id,
            line_following=contact.following,
            line_status_changed_at=contact.status_changed_at,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0005_line_contacts"),
        ("classroom", "0005_api_token_expiry_index"),
    ]

    operations = [migrations.RunPython(forward, backward)]
