"""The shipped model with the tracker on clips whose identities are known (real people
composited along known paths over real photos, ssd_isb.tracking.synthetic), and
Segmenter.track against Segmenter on the same frames."""

import numpy as np
import pytest

from conftest import DATA, need
from ssd_isb.runtime import Segmenter
from ssd_isb.core.boxes import iou_matrix
from ssd_isb.tracking import Tracker
from ssd_isb.tracking.metrics import identity_measures
from ssd_isb.tracking.synthetic import make_clip


@pytest.fixture(scope="module")
def seg():
    return Segmenter(None, threads=2)


@pytest.fixture(scope="module")
def clips():
    need(DATA)
    return {"tuned": make_clip(DATA), "heldout": make_clip(DATA, heldout=True)}


def run(seg, clip, tracker=None):
    out = []
    for f in clip.frames:
        if tracker is None:  # each frame's detection order as its ID: what no tracker gives
            r = seg(f)
            out.append({i: b for i, b in enumerate(r.boxes)})
        else:
            r = seg.track(f, tracker)
            out.append({int(t): b for t, b in zip(r.track_ids, r.boxes)})
    return identity_measures(clip.truth, out)


def test_the_clip_has_crossings_and_an_occlusion(clips):
    clip = clips["tuned"]
    assert len(clip.frames) == 80 and {k for t in clip.truth for k in t} == {0, 1, 2}
    hidden = [f for f, h in enumerate(clip.hidden) if 2 in h]
    assert len(hidden) >= 10  # behind the pillar for a second or more
    a, b = zip(*[(t[0], t[1]) for t in clip.truth if 0 in t and 1 in t])
    overlap = np.diag(iou_matrix(np.stack(a), np.stack(b)))
    assert overlap.max() > 0.3  # the two cross


def test_each_person_keeps_one_id_through_crossing_and_occlusion(seg, clips):
    """The pillar keeps the hidden person's ID; the crossing costs at most two switches.

    Release 8 crossed with none (3 tracks, 92% of frames held by one ID) and switched 3 times
    on the held-out clip. Release 9's detector sees one box, not two, where the crossing
    people overlap most (frames 47-49). The track of one person then follows the other, which
    costs 2 switches here, while the held-out clip drops to 2. The coasting rule was tuned on
    this clip for release 7's detector; what it measures moves with the detector's boxes at
    the crossing, so the test keeps the bound, not the exact figure (the model card has the
    figures)."""
    m = run(seg, clips["tuned"], Tracker())
    assert m["id_switches"] <= 2 and m["people"][2]["ids"] == [2], m  # back from the pillar
    none = run(seg, clips["tuned"])
    assert none["id_switches"] > 20 * max(m["id_switches"], 1)


def test_the_held_out_clip_is_measured_not_tuned(seg, clips):
    """Nothing was chosen on this clip (an overtaking: the slower person hidden behind the
    faster one for ~20 frames). The tracker still switches IDs there, far fewer than no
    tracker: the figures are the model card's, not a target."""
    m = run(seg, clips["heldout"], Tracker())
    none = run(seg, clips["heldout"])
    assert m["id_switches"] * 3 < none["id_switches"], (m, none)


def test_track_masks_equal_the_plain_masks_of_the_same_people(seg, clips):
    """Segmenter.track computes masks only for the people it tracks: each is the mask the
    plain call gives the same box."""
    tracker, compared = Tracker(), 0
    for f in clips["tuned"].frames[:12]:
        plain = seg(f)
        tracked = seg.track(f, tracker)
        assert seg.last_timings["track"] >= 0 and len(tracked)
        iou = iou_matrix(tracked.boxes, plain.boxes)
        for i in range(len(tracked)):
            j = int(np.argmax(iou[i])) if len(plain) else -1
            if j >= 0 and iou[i, j] > 0.999:
                np.testing.assert_array_equal(tracked.masks[i], plain.masks[j])
                compared += 1
    assert compared >= 24
