"""classroom.tokens reads a token with its user and the user's teacher and student records by one hand-written
statement (issue 22): the same instances, field for field, as the ORM's select_related, for every kind of account,
and nothing more to query afterwards."""

import pytest
from django.forms.models import model_to_dict

from classroom import tokens
from classroom.models import ApiToken
from tests import factories

pytestmark = pytest.mark.django_db


def fields(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}


@pytest.mark.parametrize("kind", ["student", "teacher", "both", "neither"])
def test_the_token_reads_as_select_related_does(kind, now, django_assert_num_queries):
    user = factories.UserFactory()
    if kind in ("student", "both"):
        factories.StudentFactory(user=user, phone="+84901234567")
    if kind in ("teacher", "both"):
        factories.TeacherFactory(user=user)
    record, token = tokens.issue(user, now=now)
    orm = ApiToken.objects.select_related("user", "user__teacher", "user__student").get(pk=record.pk)
    with django_assert_num_queries(1):
        read = tokens.authenticate(token, now=now)
    with django_assert_num_queries(0):  # every record is there, or known to be missing
        assert fields(read) == fields(orm) and fields(read.user) == fields(orm.user)
        for name in ("teacher", "student"):
            mine, theirs = getattr(read.user, name, None), getattr(orm.user, name, None)
            assert (mine is None) == (theirs is None) == (kind not in (name, "both"))
            if mine is not None:
                assert model_to_dict(mine) == model_to_dict(theirs) and fields(mine) == fields(theirs)
                assert mine.user is read.user


def test_an_unknown_token_is_refused_without_a_record(now):
    with pytest.raises(tokens.TokenRefused, match="Invalid token"):
        tokens.authenticate("0" * 40, now=now)
