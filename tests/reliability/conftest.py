from tests.reliability.scenarios import REPORT


def pytest_terminal_summary(terminalreporter):
    """One line per scenario with its counts (``make reliability`` prints them; so does ``make test``)."""
    if REPORT:
        terminalreporter.section("reliability")
        for line in REPORT:
            terminalreporter.write_line(line)
