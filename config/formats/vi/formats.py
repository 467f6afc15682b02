from django.conf.locale.vi import formats as django_formats

# "T" is the zone of the time shown (UTC in the admin): a bare "1 p.m." leaves the reader guessing whose.
DATETIME_FORMAT = django_formats.DATETIME_FORMAT + " T"
SHORT_DATETIME_FORMAT = django_formats.SHORT_DATETIME_FORMAT + " T"

# Django leaves Vietnamese numbers ungrouped; people write 240.000 (thousands by ".", decimals by ",").
NUMBER_GROUPING = 3
