"""The HTTP helper's streamed download against a real loopback server: the bytes and their SHA-256, and every bound
(the size cap, the total time, a body cut off before its Content-Length, an error answer) is a ProviderError."""

import hashlib
import io

import pytest

from integrations.fakeserver import FakeService
from integrations.http import HttpClient, ProviderError

CONTENT = b"0123456789abcdef" * 4096  # 64 KiB


class Files(FakeService):
    name = "files"

    def route(self, request):
        return self.download_reply(CONTENT, "video/mp4")


@pytest.fixture
def files():
    with Files() as fake:
        yield fake


def download(url, sink, **kwargs):
    options = {"max_bytes": 1024 * 1024, "deadline_seconds": 60, "chunk_bytes": 4096, **kwargs}
    return HttpClient("files", url, timeout=2, retries=0).download("/download/f.mp4", sink, **options)


def test_it_streams_the_file_into_the_sink_with_its_size_and_sha256(files):
    sink = io.BytesIO()
    got = download(files.url, sink)
    assert sink.getvalue() == CONTENT
    assert (got.size, got.sha256) == (len(CONTENT), hashlib.sha256(CONTENT).hexdigest())


def test_a_body_cut_off_before_its_content_length_is_an_error_not_a_short_file(files):
    files.fail_downloads("truncated")
    with pytest.raises(ProviderError, match="was cut off after") as caught:
        download(files.url, io.BytesIO())
    assert not caught.value.permanent


def test_a_file_over_the_cap_is_refused_before_it_is_read(files):
    sink = io.BytesIO()
    with pytest.raises(ProviderError, match=f"{len(CONTENT)} bytes is over the 1024 byte cap"):
        download(files.url, sink, max_bytes=1024)
    assert sink.getvalue() == b""


def test_a_download_over_its_deadline_is_stopped(files):
    with pytest.raises(ProviderError, match="took longer than 0 s"):
        download(files.url, io.BytesIO(), deadline_seconds=0)


def test_an_error_answer_is_a_provider_error_with_its_status(files):
    files.fail_downloads("500")
    with pytest.raises(ProviderError) as caught:
        download(files.url, io.BytesIO())
    assert caught.value.status == 500 and not caught.value.permanent


def test_a_stalled_download_times_out_on_the_read_timeout(files):
    files.fail_downloads("stall")  # the fake waits hang_seconds (1 s); the client reads for 0.2 s
    with pytest.raises(ProviderError, match="timed out"):
        HttpClient("files", files.url, timeout=0.2, retries=0).download(
            "/download/f.mp4", io.BytesIO(), max_bytes=1024 * 1024, deadline_seconds=60
        )
