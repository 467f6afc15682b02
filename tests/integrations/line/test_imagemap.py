"""The join and feedback imagemap images the app draws for LINE."""

import pytest


@pytest.mark.parametrize("width", [1040, 240])
def test_the_imagemap_images_are_served_at_every_width_line_asks_for(client, width):
    reply = client.get(f"/integrations/line/imagemap/join_link/{width}")
    assert reply.status_code == 200 and reply["Content-Type"] == "image/png"
    data = reply.content
    assert data.startswith(b"\x89PNG") and int.from_bytes(data[16:20], "big") == width
    assert client.get("/integrations/line/imagemap/join_link/999").status_code == 404
    assert client.get("/integrations/line/imagemap/other/240").status_code == 404
