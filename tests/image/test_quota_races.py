"""The project's image storage quota holds under parallel uploads that declare their
Content-Length (on SQLite and MariaDB): N at once against room for fewer."""

from __future__ import annotations

from tests.image.conftest import QUOTA, Images
from tests.image.test_api import race

UPLOADS = 8


def test_parallel_uploads_with_a_length_end_at_the_quota(images: Images) -> None:
    data = b"q" * (QUOTA * 3 // 10)  # three fit, the fourth does not
    made = [images.create("alice" if i % 2 else "amy") for i in range(UPLOADS)]
    sent = images.upload(made[0]["id"], b"", "alice")  # how the helper sends: with a length
    assert sent.request.headers["content-length"] == "0"
    statuses = race(images, [(m["id"], "alice", data) for m in made[1:]])
    assert sorted(statuses) == [204] * 3 + [413] * (UPLOADS - 4), statuses
    shown = [images.show(m["id"], "alice") for m in made[1:]]
    assert sorted(s["status"] for s in shown) == ["active"] * 3 + ["queued"] * (UPLOADS - 4)
    assert sum(s["size"] or 0 for s in shown) == 3 * len(data) <= QUOTA
    assert len(images.stored_files()) == 4  # three and the empty one
