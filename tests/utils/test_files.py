import os

import pytest

from behavenet.utils.files import default_file_mode


@pytest.fixture
def umask_027():
    """Run with umask 027, so the expected 0640 differs from both mkstemp's 0600 and 0644."""
    old = os.umask(0o027)
    try:
        yield 0o027
    finally:
        os.umask(old)


def _mode(path) -> int:
    return os.stat(path).st_mode & 0o777


def test_default_file_mode_is_what_open_gives(tmp_path, umask_027):
    assert default_file_mode() == 0o666 & ~umask_027 == 0o640
    with open(tmp_path / "plain.txt", "w") as fh:
        fh.write("x")
    assert _mode(tmp_path / "plain.txt") == default_file_mode()
    assert os.umask(0o027) == 0o027  # the umask is left as it was
