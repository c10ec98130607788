"""Property tests for the console's input guards: login redirects and upload file names."""

from __future__ import annotations

from urllib.parse import urlsplit

from hypothesis import given
from hypothesis import strategies as st

from siyu.web.console.pages.auth import _safe_next
from siyu.web.console.pages.imports import _safe_name

# Text with the characters that make redirects and paths dangerous, mixed with others.
tricky = st.text(alphabet=st.sampled_from(list("/\\.:?#@%~ ab中é\t\n")) | st.characters(), max_size=60)


@given(tricky)
def test_login_redirect_never_leaves_the_site(target: str) -> None:
    result = _safe_next(target)
    parts = urlsplit(result)
    assert result.startswith("/")
    assert not result.startswith("//")
    assert "\\" not in result
    assert not any(ord(ch) < 32 or ord(ch) == 127 for ch in result)
    # What a browser makes of it (it drops tabs and newlines) is still a local path.
    assert not result.replace("\t", "").replace("\n", "").replace("\r", "").startswith("//")
    assert parts.scheme == ""
    assert parts.netloc == ""


@given(st.sampled_from(["/", "/customers", "/customers?q=city:杭州", "/imports/3"]))
def test_login_redirect_keeps_local_paths(target: str) -> None:
    assert _safe_next(target) == target


@given(tricky)
def test_upload_names_are_plain_file_names(name: str) -> None:
    result = _safe_name(name)
    assert result
    assert "/" not in result
    assert "\\" not in result
    assert result not in (".", "..")
    assert not result.startswith(".")
    assert len(result) <= 120
    assert all(ch.isalnum() or ch in "._-" for ch in result)
