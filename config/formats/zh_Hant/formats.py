from django.conf.locale.zh_Hant import formats as django_formats

# "T" is the zone of the time shown (UTC in the admin): a bare "1 p.m." leaves the reader guessing whose.
DATETIME_FORMAT = django_formats.DATETIME_FORMAT + " T"
SHORT_DATETIME_FORMAT = django_formats.SHORT_DATETIME_FORMAT + " T"

# Django groups Traditional Chinese numbers by four with no separator (240000); Taiwan writes amounts 240,000.
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
