"""Usage charts: bars, labels and totals checked on the returned Axes; a PNG written."""

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from test_plotting import assert_png, legend_labels
from test_usage import ADMIN, VOLUMES_ADMIN, image, images, server, servers, volume, volumes

from imgframe import plotting
from imgframe.errors import InvalidQueryError
from imgframe.usage import usage
from imgframe.usage_plots import VERDICT_COLORS, human_bytes, storage_plot, usage_plot

GIB = 1024 ** 3


@pytest.fixture
def u():
    imgs = images(image("i1", size=2 * GIB), image("i2", size=GIB),
                  image("i3", size=GIB, metadata={"image_type": "snapshot",
                                                   "instance_uuid": "gone"}),
                  image("i4", size=None), image("i5", size=3 * GIB, visibility="public"))
    srv = servers(server("s1", "i1"), server("s2", "i1"), scope=ADMIN)
    return usage(imgs, srv, volumes(volume("v1", "i2"), scope=VOLUMES_ADMIN))


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_the_fixture_has_every_verdict_and_two_kinds(u):
    assert list(u.verdict.astype(str)) == ["in use", "in use", "unused", "unused", "unused"]
    assert set(u.kind.astype(str)) == {"image", "snapshot"}


def stacks(ax):
    """verdict position -> total height of its stacked bars"""
    out = {}
    for p in ax.patches:
        x = round(p.get_x() + p.get_width() / 2)
        out[x] = out.get(x, 0) + p.get_height()
    return out


def test_usage_plot_stacks_kinds_per_verdict_with_totals(u):
    ax = usage_plot(u)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["in use", "unused", "unknown"]
    assert stacks(ax) == {0: 2, 1: 3, 2: 0}
    assert legend_labels(ax) == ["image", "snapshot"]
    assert [t.get_text() for t in ax.texts] == ["2", "3", "0"]
    assert ax.get_title() == "Images per verdict by kind (5 images)"
    assert ax.get_ylabel() == "images (count)"
    snapshot = [c for c in ax.containers if c.get_label() == "snapshot"]
    assert [p.get_height() for p in snapshot[0]] == [0, 1, 0]


def test_usage_plot_plain_bars_use_the_verdict_colours(u):
    ax = usage_plot(u, by=None, title=None)
    assert [p.get_height() for p in ax.patches] == [2, 3, 0]
    from matplotlib.colors import to_hex
    assert [to_hex(p.get_facecolor()) for p in ax.patches] == list(VERDICT_COLORS.values())
    assert ax.get_title() == ""


def test_usage_plot_by_visibility(u):
    ax = usage_plot(u, by="visibility")
    assert legend_labels(ax) == ["private", "public"]


def test_storage_plot_sums_sizes_per_verdict(u):
    ax = storage_plot(u)
    assert [p.get_height() for p in ax.patches] == pytest.approx([3, 4, 0])
    assert ax.get_ylabel() == "image size (GiB)"
    texts = [t.get_text() for t in ax.texts]
    assert texts[:3] == ["3.0 GiB", "4.0 GiB", "0 B"]
    assert "1 image without a size counted as 0" in texts
    assert ax.get_title() == "Storage per verdict (7.0 GiB)"


def test_empty_frames_give_a_note_and_given_axes_are_used(u):
    _, given = plt.subplots()
    assert usage_plot(u.iloc[:0], ax=given) is given
    assert "no images" in [t.get_text() for t in given.texts]
    assert "no images" in [t.get_text() for t in storage_plot(u.iloc[:0]).texts]


def test_bad_inputs_are_one_line_errors(u):
    with pytest.raises(InvalidQueryError, match="by"):
        usage_plot(u, by="status")
    with pytest.raises(InvalidQueryError, match="usage_frame"):
        usage_plot(pd.DataFrame({"id": ["x"]}))
    with pytest.raises(InvalidQueryError, match="usage_frame"):
        storage_plot([1, 2])


def test_human_bytes():
    assert human_bytes(0) == "0 B"
    assert human_bytes(512) == "512 B"
    assert human_bytes(1536) == "1.5 KiB"
    assert human_bytes(5 * 1024 ** 4) == "5.0 TiB"


def test_png(u, tmp_path):
    assert_png(plotting.save(usage_plot(u), tmp_path / "u.png"))
