"""Date formats that name the zone (FORMAT_MODULE_PATH): every time on an admin page says it is UTC (issue 21
item 5). Each language keeps Django's own format and adds the zone after it."""
