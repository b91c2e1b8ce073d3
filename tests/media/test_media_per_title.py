"""Per-title ladder rules (vodflow.media.per_title) on synthetic trial points, plus one real trial run.

The synthetic curves follow the usual shape of x264 rate-quality curves: VMAF rises with log rate
and flattens near a ceiling that grows with the picture size.
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from vodflow.media.per_title import (
    FLAT_DROP,
    RUNG_MIN_DROP,
    TOP_MIN_DROP,
    TrialPoint,
    bd_rate,
    calibration_windows,
    crf_at,
    curves_by_size,
    drop10,
    find_top,
    hull_points,
    kbps_at,
    sample_windows,
    select_ladder,
    size_curve,
    rate_cap,
    source_rate_cap,
    top_still_rising,
    vmaf_at,
)

SIZES = [(416, 234), (640, 360), (960, 540), (1280, 720), (1920, 1080)]
CEIL = {234: 70.0, 360: 80.0, 540: 88.0, 720: 94.0, 1080: 99.0}


def synth(difficulty: float = 1.0, crfs=(18, 23, 28, 33, 38), sizes=SIZES) -> list[TrialPoint]:
    """Trial points of a title: ``difficulty`` 1 = live action; 0.3 = flat animation."""
    pts = []
    for w, h in sizes:
        px = w * h / (1920 * 1080)
        for crf in crfs:
            kbps = 9000 * px ** 0.8 * difficulty * 2 ** ((18 - crf) / 6)
            bpp = kbps / (px * difficulty)
            vmaf = CEIL[h] * (1 - math.exp(-bpp / 1500))
            pts.append(TrialPoint(w, h, crf, kbps, vmaf))
    return pts


def test_size_curve_keeps_only_points_that_add_quality():
    pts = [TrialPoint(640, 360, 30, 300, 60), TrialPoint(640, 360, 24, 600, 70), TrialPoint(640, 360, 20, 900, 69.5),
           TrialPoint(640, 360, 40, 0, 10)]
    assert [(p.kbps, p.vmaf) for p in size_curve(pts)] == [(300, 60), (600, 70)]


def test_two_point_curve_is_linear_in_log_rate_and_inverse():
    c = size_curve([TrialPoint(640, 360, 30, 200, 60), TrialPoint(640, 360, 24, 800, 80)])
    assert vmaf_at(c, 400) == pytest.approx(70)
    assert kbps_at(c, 70) == pytest.approx(400)
    assert vmaf_at(c, 100) is None and vmaf_at(c, 1000) is None
    assert kbps_at(c, 59) is None and kbps_at(c, 81) is None


#: clip 01's 540p trials (session 13): CRF 34 / 27 / 20, 2.3x and 2.4x apart in rate
CLIP01_540P = [TrialPoint(960, 540, 34, 218.7, 52.185), TrialPoint(960, 540, 27, 511.7, 76.525),
               TrialPoint(960, 540, 20, 1240.6, 89.169)]


def _chord(a: TrialPoint, b: TrialPoint, kbps: float) -> float:
    return a.vmaf + (b.vmaf - a.vmaf) * math.log(kbps / a.kbps) / math.log(b.kbps / a.kbps)


def test_a_concave_curve_is_interpolated_above_its_chords():
    c = size_curve(CLIP01_540P)
    lo, mid, hi = c
    # the rung session 13 picked at 333 kb/s: 64.2 on the chord, 73.8 measured; PCHIP follows the curve's bend
    assert vmaf_at(c, 333) == pytest.approx(66.0, abs=0.1)
    assert _chord(lo, mid, 333) == pytest.approx(64.2, abs=0.1)
    for r in (250, 333, 450, 600, 800, 1100):
        a, b = (lo, mid) if r < mid.kbps else (mid, hi)
        assert _chord(a, b, r) < vmaf_at(c, r) < b.vmaf
    # it passes through every trial and the inverse round-trips
    for p in c:
        assert vmaf_at(c, p.kbps) == pytest.approx(p.vmaf) and kbps_at(c, p.vmaf) == pytest.approx(p.kbps)
    for v in (55.0, 66.0, 76.525, 80.0, 88.0):
        assert vmaf_at(c, kbps_at(c, v)) == pytest.approx(v)


def test_interpolation_is_monotone_and_never_overshoots_a_knee():
    # clip 15's 720p trials: steep from CRF 34 to 27, flat from 27 to 20 (a cubic spline would bulge above 91.73)
    c = size_curve([TrialPoint(1280, 720, 34, 102.6, 87.317), TrialPoint(1280, 720, 27, 113.2, 91.47),
                    TrialPoint(1280, 720, 20, 184.2, 91.726)])
    rates = [102.6 * (184.2 / 102.6) ** (i / 200) for i in range(201)]
    vs = [vmaf_at(c, r) for r in rates]
    assert all(b >= a - 1e-9 for a, b in zip(vs, vs[1:]))
    assert min(vs) == pytest.approx(87.317) and max(vs) == pytest.approx(91.726)
    assert kbps_at(c, 91.6) == pytest.approx(next(r for r, v in zip(rates, vs) if v >= 91.6), rel=0.01)


def test_the_flat_check_sees_a_concave_curve_flatten():
    # 10 % under the top of a concave segment the chord overstates the drop; PCHIP follows the bend (the session-13
    # tops of the 720p Big Buck Bunny masters: ~1.5 predicted on the chords, 0.83/0.89 measured)
    curves = curves_by_size(CLIP01_540P)
    lo, mid, _ = CLIP01_540P
    r = mid.kbps * 0.97
    chord_drop = _chord(lo, mid, r) - _chord(lo, mid, r * 0.9)
    assert drop10(curves, r, vmaf_at(curves[(960, 540)], r)) < chord_drop


def test_hull_is_concave_and_spans_sizes():
    pts = synth()
    hull = hull_points(pts)
    rates = [p.kbps for p in hull]
    assert rates == sorted(rates) and [p.vmaf for p in hull] == sorted(p.vmaf for p in hull)
    slopes = [(b.vmaf - a.vmaf) / math.log(b.kbps / a.kbps) for a, b in zip(hull, hull[1:])]
    assert all(s1 >= s2 - 1e-9 for s1, s2 in zip(slopes, slopes[1:]))
    assert hull[0].height < hull[-1].height  # small sizes win at low rates, big ones at high rates


def test_ladder_is_monotonic_and_never_grows_smaller():
    picks = select_ladder(synth())
    assert len(picks) >= 3
    assert [p.kbps for p in picks] == sorted(p.kbps for p in picks)
    assert [p.vmaf for p in picks] == sorted(p.vmaf for p in picks)
    assert [p.width * p.height for p in picks] == sorted(p.width * p.height for p in picks)
    assert all(b.kbps >= a.kbps * 1.3 - 1e-6 for a, b in zip(picks, picks[1:]))


def test_no_lower_rung_is_larger_than_the_top():
    """Every lower rung larger than the top's size goes (not only the one under it): here 720p wins every quality
    up to 80 and only 360p reaches the top quality."""
    pts = [TrialPoint(1280, 720, 34, 100, 50), TrialPoint(1280, 720, 27, 200, 70), TrialPoint(1280, 720, 20, 400, 80),
           TrialPoint(640, 360, 34, 300, 40), TrialPoint(640, 360, 27, 500, 86)]
    picks = select_ladder(pts, min_kbps=100)
    assert picks[-1].height == 360
    assert [p.width * p.height for p in picks] == sorted(p.width * p.height for p in picks)


def test_equal_quality_steps_of_at_most_one_jnd():
    picks = select_ladder(synth())
    steps = [b.vmaf - a.vmaf for a, b in zip(picks, picks[1:])]
    # equal steps, except where a rung on a flat stretch of the hull was moved (at most a step away)
    assert sorted(steps)[len(steps) // 2] <= 6.0 + 1e-6
    assert max(steps) <= 1.5 * 6.0 or len(picks) == 8
    assert all(p.drop10 >= RUNG_MIN_DROP for p in picks)


def test_no_rung_sits_on_the_flat_part():
    for difficulty in (0.3, 1.0, 2.0):
        pts = synth(difficulty)
        curves = curves_by_size(pts)
        for p in select_ladder(pts):
            assert p.drop10 >= FLAT_DROP, (difficulty, p)
            assert drop10(curves, p.kbps, p.vmaf) == pytest.approx(p.drop10)


def test_top_is_where_more_bits_stop_helping():
    pts = synth()
    top = select_ladder(pts)[-1]
    # 10 % more bits than the top buy less than the top's own 10 % step: the curve flattens above it
    curves = curves_by_size(pts)
    from vodflow.media.per_title import hull_vmaf

    above = hull_vmaf(curves, top.kbps / 0.9)
    assert above is None or above - top.vmaf <= top.drop10 + 1e-6
    assert top.vmaf <= 95.0 + 1e-6


def test_no_upscale_sizes_come_only_from_the_trials():
    pts = synth(sizes=SIZES[:3])  # a 540p source: trials only up to 540p
    picks = select_ladder(pts)
    assert max(p.height for p in picks) <= 540


def test_low_bitrate_source_caps_every_rung():
    pts = synth()
    assert source_rate_cap(1160) == pytest.approx(2320)  # the 1.16 Mb/s HEVC master of the issue
    cap = source_rate_cap(800)  # under the synthetic title's own top (~2.2 Mb/s)
    picks = select_ladder(pts, max_kbps=cap)
    assert all(p.kbps <= cap + 1e-6 for p in picks)
    uncapped = select_ladder(pts)
    assert uncapped[-1].kbps > cap  # the cap is what kept the top down
    assert source_rate_cap(None) is None and source_rate_cap(0) is None
    # a rich 240p source (336 kb/s, fixed ladder 145 kb/s) is held to 2x the table, not 2x its own bits
    assert rate_cap(336, 145) == pytest.approx(290)
    assert rate_cap(1160, 7800) == pytest.approx(2320) and rate_cap(None, 7800) == pytest.approx(15600)
    assert rate_cap(None, None) is None
    # a one-rung fixed ladder (the source at the table's smallest size) caps at that rung: never more bits than fixed
    assert rate_cap(336, 145, fixed_rungs=1) == pytest.approx(145)
    assert select_ladder(pts, max_kbps=rate_cap(336, 145, fixed_rungs=1))[-1].kbps <= 145 + 1e-6


def test_easy_content_gets_a_cheaper_ladder():
    easy, hard = select_ladder(synth(0.3)), select_ladder(synth(2.0))
    assert sum(p.kbps for p in easy) < 0.5 * sum(p.kbps for p in hard)
    assert easy[-1].kbps < hard[-1].kbps


def test_flat_content_gets_one_rung_at_the_cheapest_trial():
    """A still picture: every trial scores ~99.5 whatever its rate, so more bits never help."""
    pts = [TrialPoint(w, h, crf, kbps, 99.4 + 0.05 * i)
           for w, h in SIZES[:2] for i, (crf, kbps) in enumerate([(34, 6.0 * w / 416), (27, 9.0 * w / 416),
                                                                   (20, 15.0 * w / 416)])]
    # no top where 10 % fewer bits cost anything: the trials module then adds trials at higher CRFs
    assert find_top(curves_by_size(pts)) is None
    (only,) = select_ladder(pts)
    assert (only.width, only.kbps) == (416, pytest.approx(6.0))
    # below the cheapest trial the curve is continued with its cheapest slope: flat, so a tiny drop
    assert 0 <= only.drop10 < FLAT_DROP
    one_point = [TrialPoint(416, 234, 34, 6.0, 99.4)]
    (only,) = select_ladder(one_point)
    assert only.drop10 == math.inf and only.to_dict()["drop10"] is None  # unknown (no slope); JSON-safe


def test_a_still_picture_gets_its_rung_where_fewer_bits_start_to_cost():
    """After the extra high-CRF trials, the top sits on the knee, not at the cheapest flat point."""
    pts = [TrialPoint(416, 234, crf, kbps, v) for crf, kbps, v in
           [(48, 2.0, 80.0), (41, 3.5, 93.0), (34, 6.0, 99.4), (27, 9.0, 99.45), (20, 15.0, 99.5)]]
    (only,) = select_ladder(pts)
    assert only.drop10 >= TOP_MIN_DROP and 3.5 <= only.kbps < 6.0


def test_a_curve_still_rising_at_the_lowest_crf_asks_for_one_more_trial():
    # grain or a noise pattern: CRF 20 at 720p still gains 11 VMAF per rate doubling, far below the ceiling
    hard = [TrialPoint(960, 540, 27, 2000, 70), TrialPoint(960, 540, 20, 4000, 76),
            TrialPoint(1280, 720, 27, 3000, 75), TrialPoint(1280, 720, 20, 6000, 86)]
    assert top_still_rising(hard)
    assert not top_still_rising(hard, max_kbps=5000)  # ... unless the source's bits cap it anyway
    easy = hard[:3] + [TrialPoint(1280, 720, 20, 6000, 96)]  # reaches the ceiling
    assert not top_still_rising(easy)
    flat = hard[:3] + [TrialPoint(1280, 720, 20, 6000, 77)]  # the last doubling bought little
    assert not top_still_rising(flat)


def test_minimum_ladder_adds_a_second_rung_that_passes_the_flat_rule():
    """The player tests' noisy 640x360 clip: the knee sits at 234p, 360p is never worth its bits, one rung;
    a 360-line source gets a cheaper second rung below it (still off the flat part), nothing above."""
    noisy = [TrialPoint(416, 234, 34, 80, 60.0), TrialPoint(416, 234, 27, 160, 72.0), TrialPoint(416, 234, 20, 320, 74.0),
             TrialPoint(640, 360, 34, 150, 50.0), TrialPoint(640, 360, 27, 300, 66.0), TrialPoint(640, 360, 20, 600, 73.5)]
    (one,) = select_ladder(noisy, min_kbps=150)
    assert one.height == 234 and one.drop10 >= TOP_MIN_DROP
    below, top = select_ladder(noisy, min_kbps=150, min_rungs=2)
    assert top == one
    assert below.kbps * 1.3 <= top.kbps + 1e-6 and below.drop10 >= RUNG_MIN_DROP and below.vmaf < top.vmaf
    # a single trial point has no slope: nothing passes, the ladder stays at one rung
    assert len(select_ladder([TrialPoint(640, 360, 27, 300, 70.0)], min_rungs=2)) == 1


def test_picks_carry_the_crf_of_their_rate():
    c = size_curve([TrialPoint(640, 360, 34, 150, 62.0), TrialPoint(640, 360, 27, 300, 78.0),
                    TrialPoint(640, 360, 20, 600, 86.0)])
    assert crf_at(c, 300) == pytest.approx(27) and crf_at(c, 212.13) == pytest.approx(30.5, abs=0.01)
    assert crf_at(c, 1200) == pytest.approx(13)  # continued with the end segment's slope
    assert all(p.crf is not None for p in select_ladder(synth()))


def test_bottom_rung_near_the_minimum_rate():
    picks = select_ladder(synth(), min_kbps=145)
    assert picks[0].kbps == pytest.approx(145, rel=0.02)


def test_no_usable_points_is_an_error():
    with pytest.raises(ValueError, match="no usable trial points"):
        select_ladder([TrialPoint(640, 360, 20, 0, 50)])


def test_bd_rate():
    ref = [(100, 50), (200, 60), (400, 70), (800, 80)]
    assert bd_rate(ref, [(r / 2, q) for r, q in ref]) == pytest.approx(-0.5)
    assert bd_rate(ref, ref) == pytest.approx(0.0, abs=1e-9)
    assert bd_rate(ref, [(5000, 95), (9000, 97)]) is None  # no common quality range
    assert bd_rate(ref, [(100, 50)]) is None


def test_sample_windows_cover_the_title():
    w = sample_windows(600)
    assert sum(length for _, length in w) == pytest.approx(8.0, abs=0.01)  # capped (lengths rounded to 1 ms)
    assert w[0][0] < 60 and w[-1][0] > 540
    assert all(0 <= s and s + length <= 600 for s, length in w)
    mid = sample_windows(100)  # 3 % of the title, in ~0.33 s windows: grows with the title like its encode
    assert sum(length for _, length in mid) == pytest.approx(3.0, abs=0.01) and len(mid) == 9
    short = sample_windows(2.0)
    assert sum(length for _, length in short) == pytest.approx(0.5)
    assert sample_windows(0.3) == [(0.0, 0.3)]
    with pytest.raises(ValueError):
        sample_windows(0)
    # a low frame rate still gets a sample VMAF can score: >= 12 frames, windows >= 6 frames (the 10 fps phone clip)
    slow = sample_windows(2.38, fps=10)
    assert sum(length for _, length in slow) * 10 >= 12 - 1e-6 and all(length * 10 >= 6 - 1e-6 for _, length in slow)
    # the floor is frames, not seconds: a 1 s 50 fps title samples 12 frames (a 0.5 s floor was 25, twice the cost)
    fast = sample_windows(1.0, fps=50)
    assert sum(length for _, length in fast) * 50 == pytest.approx(12, abs=0.1)
    assert sum(length for _, length in sample_windows(100.0, fps=25)) == pytest.approx(3.0, abs=0.01)  # share wins


def test_calibration_windows_hold_the_sample_and_a_share_of_the_title():
    for duration in (30.0, 31.84, 100.0, 600.0):
        samples = sample_windows(duration)
        cal = calibration_windows(duration, samples)
        assert len(cal) == len(samples)
        share = sum(length for _, length in cal) / duration
        assert 0.1 <= share <= 0.2 or sum(length for _, length in cal) == pytest.approx(3.0, abs=0.01)
        for (s, l), (c, cl) in zip(samples, cal):  # each contains its sample window, within the title
            assert c <= s + 1e-6 and s + l <= c + cl + 1e-3 and 0 <= c and c + cl <= duration + 1e-3
        assert all(a[0] + a[1] <= b[0] + 1e-3 for a, b in zip(cal, cal[1:]))  # no overlap
    # short titles: the calibration would be half of the title or more, so the windows tile all of it
    tiles = calibration_windows(4.0, sample_windows(4.0))
    assert tiles[0][0] == 0 and sum(length for _, length in tiles) == pytest.approx(4.0, abs=0.01)
    assert calibration_windows(30.0, sample_windows(30.0), whole=0.0) == [(0.0, 10.0), (10.0, 10.0), (20.0, 10.0)]
    with pytest.raises(ValueError):
        calibration_windows(10.0, [])


def test_scoring_subsample_keeps_a_few_scored_frames():
    from vodflow.media.trials import VMAF_SUBSAMPLE, scoring_subsample

    assert scoring_subsample(240) == VMAF_SUBSAMPLE
    assert scoring_subsample(12) == 3 and scoring_subsample(5) == 1 and scoring_subsample(0) == 1


def test_real_trials_on_a_small_clip(clip, tmp_path):
    """One real analysis: sample, trial encodes and VMAF on a 2 s 640x360 synthetic clip (a few seconds)."""
    pytest.importorskip("imageio_ffmpeg")
    from vodflow.media import probe
    from vodflow.media.trials import plan_per_title
    from vodflow.media.vmaf import check_vmaf

    check_vmaf()
    info = probe(clip("mkv"))
    rungs, analysis = plan_per_title(info, tmp_path)
    assert analysis.points and all(0 <= p.vmaf <= 100 and p.kbps > 0 for p in analysis.points)
    assert {(p.width, p.height) for p in analysis.points} <= {(416, 234), (640, 360)}
    # more bits at the same size never score lower
    for curve in curves_by_size(analysis.points).values():
        assert [p.vmaf for p in curve] == sorted(p.vmaf for p in curve)
    assert rungs and all(r.width <= 640 and r.height <= 360 for r in rungs)
    assert [r.video_bitrate for r in rungs] == sorted(r.video_bitrate for r in rungs)
    assert all(r.fps == Fraction(25) and r.keyint == 50 for r in rungs)
    assert all(r.maxrate == int(r.video_bitrate * 1.5) for r in rungs)
    d = analysis.to_dict()
    assert d["picks"] and d["points"] and d["seconds"]["vmaf"] > 0
    # a 2 s title: capped CRF at the trials' CRF (VBR does not settle on 50 frames), same caps
    assert analysis.crf_capped and d["rate_control"] == "capped CRF"
    assert all(r.crf is not None and 10 < r.crf < 52 for r in rungs)
    assert len(rungs) >= 2  # a 360-line source gets the minimum ladder
    # 0.5 s sampled of 2 s: the trial rates are calibrated on the whole title (a short title: the windows tile it)
    assert 0.2 <= d["rate_scale"] <= 5.0 and d["calibration_kbps"] > 0
    assert sum(length for _, length in d["calibration_windows"]) == pytest.approx(2.0, abs=0.05)


def test_calibration_factor():
    from vodflow.media.trials import CALIBRATION_BOUNDS, calibrate

    assert calibrate(100.0, 200.0) == pytest.approx(0.5)
    assert calibrate(300.0, 100.0) == pytest.approx(3.0)
    assert calibrate(1000.0, 1.0) == CALIBRATION_BOUNDS[1] and calibrate(1.0, 1000.0) == CALIBRATION_BOUNDS[0]
    assert calibrate(0.0, 100.0) == 1.0 and calibrate(100.0, 0.0) == 1.0


def test_calibration_measures_the_title_like_a_trial(clip, tmp_path):
    """The calibration encode (made in the reference's ffmpeg run, straight from the master), with windows tiling
    the title, spends what a trial of the same point over the whole title (reference = every frame) spends: they
    differ only by the lossless reference in between and the IDRs forced at the joins (weighted out)."""
    import math as _math

    from vodflow.media import plan_ladder, probe
    from vodflow.media.trials import (
        CalibrationSpec, calibration_kbps, candidate_sizes, encode_trials, make_reference, trial_kbps, trial_sizes)

    info = probe(clip("mkv"))
    fixed = plan_ladder(info)
    size = trial_sizes(candidate_sizes(fixed))[0]
    gop = fixed[0].keyint / float(fixed[0].fps)
    dur = info.duration
    idr = _math.ceil(dur / gop - 1e-9) / dur
    full = (info.display_width, info.display_height)
    ref = make_reference(info, [(0.0, dur)], full, fixed[0].fps, tmp_path / "ref.mp4")
    trial = encode_trials(ref, [size], [(27,)], fixed[0].fps, gop, tmp_path / "t")[(size[0], size[1], 27)]
    whole = trial_kbps(trial, dur, idr)
    samples = sample_windows(dur)
    spec = CalibrationSpec(calibration_windows(dur, samples, whole=0.0), size, 27, gop, tmp_path / "cal.mp4")
    make_reference(info, samples, full, fixed[0].fps, tmp_path / "ref2.mp4", calibration=spec)
    assert calibration_kbps(spec, idr) == pytest.approx(whole, rel=0.1)


def test_a_raw_reference_scores_like_the_lossless_x264_one(clip, tmp_path):
    """The sample's reference as raw pictures (``.nut``) or x264 -qp 0 (``.mp4``): both lossless, so a trial gets the
    same rate and the same VMAF against either."""
    from vodflow.media import plan_ladder, probe
    from vodflow.media.trials import candidate_sizes, encode_trials, make_reference, trial_sizes
    from vodflow.media.vmaf import vmaf_scores

    pytest.importorskip("imageio_ffmpeg")
    info = probe(clip("mkv"))
    fixed = plan_ladder(info)
    size = trial_sizes(candidate_sizes(fixed))[0]
    full = (info.display_width, info.display_height)
    windows = sample_windows(info.duration)
    scores = []
    for name in ("ref.nut", "ref.mp4"):
        ref = make_reference(info, windows, full, fixed[0].fps, tmp_path / name)
        trial = encode_trials(ref, [size], [(27,)], fixed[0].fps, 2.0, tmp_path / name.replace(".", "_"))
        path = trial[(size[0], size[1], 27)]
        scores.append((path.stat().st_size, vmaf_scores(ref, [path], *full, fixed[0].fps)[0]))
    assert scores[0][0] == scores[1][0] and scores[0][1] == pytest.approx(scores[1][1], abs=1e-6)


def test_vmaf_ignores_colour_tags(tmp_path):
    """A rung tagged BT.709 scores the same as its untagged twin (same bitstream, only the VUI tags differ)
    against an untagged source: ffmpeg negotiates colorspace in a filter graph, and without equal tags one
    side was converted before libvmaf (the twin scored 57.5 instead of 95.6)."""
    pytest.importorskip("imageio_ffmpeg")
    from vodflow.media.tools import ffmpeg_bin, run_tool
    from vodflow.media.vmaf import check_vmaf, vmaf_scores

    check_vmaf()
    src = [ffmpeg_bin(), "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=0.4",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    ref, plain, tagged = tmp_path / "ref.mp4", tmp_path / "plain.mp4", tmp_path / "tagged.mp4"
    run_tool(src + ["-qp", "0", str(ref)])
    run_tool(src + ["-crf", "30", str(plain)])
    run_tool([ffmpeg_bin(), "-nostdin", "-v", "error", "-y", "-i", str(plain), "-c", "copy", "-bsf:v",
              "h264_metadata=colour_primaries=1:transfer_characteristics=1:matrix_coefficients=1", str(tagged)])
    a, b = vmaf_scores(ref, [plain, tagged], 320, 180, Fraction(25))
    assert a == pytest.approx(b, abs=0.01) and 80 < a < 99


def test_only_trials_up_to_the_rate_cap_are_scored():
    """Per size, trials up to the first one at or above the cap get a VMAF score; dearer ones cannot be a rung."""
    from vodflow.media.trials import worth_scoring

    rates = {(640, 360, 34): 90.0, (640, 360, 27): 180.0, (1280, 720, 34): 200.0, (1280, 720, 27): 400.0,
             (1280, 720, 20): 900.0}
    assert worth_scoring(rates, 250.0) == [(640, 360, 34), (640, 360, 27), (1280, 720, 34), (1280, 720, 27)]
    assert worth_scoring(rates, None) == list(rates)



def test_trials_reach_every_size_of_the_fixed_ladder():
    """Every fixed-ladder size is a trial size (the hull can reach whatever the fixed ladder reaches: a 432p rung
    beat the per-title ladder's 360p/540p choice on the 2.4 s phone clip, +13 % BD-rate); 432p, between 360p and
    540p, gets only the two lowest CRFs (its high-CRF region belongs to 360p)."""
    from fractions import Fraction

    from vodflow.media.trials import TRIAL_CRFS, trial_crfs, trial_sizes

    f = Fraction(25)
    sizes = [(416, 234, f), (640, 360, f), (768, 432, f), (960, 540, f), (1280, 720, f), (1920, 1080, f)]
    assert trial_sizes(sizes) == sizes
    crfs = dict(zip([h for _, h, _ in sizes], trial_crfs(sizes)))
    assert crfs[432] == TRIAL_CRFS[:2] and crfs[540] == TRIAL_CRFS and crfs[360] == TRIAL_CRFS[1:]
    assert crfs[1080] == TRIAL_CRFS[:2] and all(len(c) >= 2 for c in crfs.values())


#: clip 01's first-round trials (session 13; 720p VP8, 30 s, rate cap 689 kb/s): 234p and 360p skip CRF 20
CLIP01_TRIALS = [
    TrialPoint(416, 234, 27, 157.6, 44.172), TrialPoint(416, 234, 34, 63.6, 18.253),
    TrialPoint(640, 360, 27, 290.8, 64.075), TrialPoint(640, 360, 34, 122.4, 35.725),
    TrialPoint(768, 432, 20, 889.8, 85.279), TrialPoint(768, 432, 27, 359.7, 70.65),
    *CLIP01_540P, TrialPoint(1280, 720, 27, 741.9, 82.192),
]


def test_a_curve_that_ends_on_the_hull_gets_one_more_trial():
    """360p stops at CRF 27 (291 kb/s) ~2 VMAF over 540p there, under the rate cap: where 540p overtakes it is not
    measured, so 360p gets CRF 20 in the next round. 234p ends level with 360p (a measured crossing), 432p and 540p
    already have CRF 20."""
    from vodflow.media.trials import TRIAL_CRFS, next_trials, trial_crfs

    from vodflow.media.per_title import curves_ending_on_hull

    assert curves_ending_on_hull(CLIP01_TRIALS, max_kbps=689.1) == [(640, 360)]
    assert curves_ending_on_hull(CLIP01_TRIALS, max_kbps=250) == []  # its end is above the cap: no rung there
    f = Fraction(24)
    sizes = [(416, 234, f), (640, 360, f), (768, 432, f), (960, 540, f), (1280, 720, f)]
    assert next_trials(CLIP01_TRIALS, sizes, trial_crfs(sizes), _tried(CLIP01_TRIALS), TRIAL_CRFS, 689.1,
                       145.0) == [((640, 360, f), (20,))]
    # the CRF 20 point measured, the curve no longer ends on the hull
    more = CLIP01_TRIALS + [TrialPoint(640, 360, 20, 700.0, 80.0)]
    assert curves_ending_on_hull(more, max_kbps=689.1) == []
    assert next_trials(more, sizes, trial_crfs(sizes), _tried(more), TRIAL_CRFS, 689.1, 145.0) == []
    # smooth synthetic curves: larger sizes overtake each smaller one inside its trials
    assert curves_ending_on_hull(synth()) == []


def _tried(points):
    out: dict = {}
    for p in points:
        out.setdefault(p.size, set()).add(p.crf)
    return out


def test_first_round_trials_the_middle_sizes():
    """Coarse to fine: the first round leaves out the smallest size, the largest and 432p (between close
    neighbours), keeping at least two sizes."""
    from vodflow.media.trials import first_round_sizes

    f = Fraction(25)
    s = [(416, 234, f), (640, 360, f), (768, 432, f), (960, 540, f), (1280, 720, f), (1920, 1080, f)]
    assert first_round_sizes(s) == [s[1], s[3], s[4]]  # 1080p source: 360p, 540p, 720p
    assert first_round_sizes(s[:5]) == [s[1], s[3]]  # 720p source: 360p, 540p
    assert first_round_sizes(s[:4]) == [s[1], s[3]]  # 540p source: 360p and the largest (else one size)
    assert first_round_sizes(s[:3]) == [s[1], s[2]]
    assert first_round_sizes(s[:2]) == s[:2] and first_round_sizes(s[:1]) == s[:1]


def test_later_rounds_add_the_smallest_and_largest_sizes_only_where_they_can_matter():
    """Session-15 first-round points: clip 01 (360p reaches below the 145 kb/s bottom, the top lies mid-540p) needs
    neither the smallest nor the largest size; the phone clip 03's 360p starts at 185 kb/s, above the bottom's
    flat check (130.5), so 234p comes in; on the 1080p Big Buck Bunny master the top is 720p at 98 % of its
    dearest trial's rate, so 1080p comes in."""
    from vodflow.media.trials import TRIAL_CRFS, next_trials, trial_crfs

    f = Fraction(25)
    s = [(416, 234, f), (640, 360, f), (768, 432, f), (960, 540, f), (1280, 720, f), (1920, 1080, f)]
    first01 = [p for p in CLIP01_TRIALS if p.height in (360, 540)]
    assert next_trials(first01, s[:5], trial_crfs(s[:5]), _tried(first01), TRIAL_CRFS, 689.1,
                       145.0) == [(s[1], (20,))]  # only the curve-end trial
    clip03 = [TrialPoint(640, 360, 27, 488, 82.7), TrialPoint(640, 360, 34, 185, 62.7),
              TrialPoint(960, 540, 20, 3020, 96.9), TrialPoint(960, 540, 27, 1030, 90.8),
              TrialPoint(960, 540, 34, 368, 74.7)]
    assert next_trials(clip03, s[:5], trial_crfs(s[:5]), _tried(clip03), TRIAL_CRFS, 9000, 145.0) == [
        (s[0], (27, 34)), (s[1], (20,))]
    assert (s[0], (27, 34)) not in next_trials(clip03, s[:5], trial_crfs(s[:5]), _tried(clip03), TRIAL_CRFS, 9000,
                                               210.0)  # a higher bottom: 360p reaches 10 % under it
    bbb = [TrialPoint(640, 360, 27, 333, 48.8), TrialPoint(640, 360, 34, 128, 24.7),
           TrialPoint(960, 540, 20, 1505, 82.5), TrialPoint(960, 540, 27, 612, 64.7),
           TrialPoint(960, 540, 34, 240, 38.7), TrialPoint(1280, 720, 20, 2285, 88.6),
           TrialPoint(1280, 720, 27, 985, 73.6), TrialPoint(1280, 720, 34, 401, 49.3)]
    assert next_trials(bbb, s, trial_crfs(s), _tried(bbb), TRIAL_CRFS, 14494, 145.0) == [(s[5], (20, 27))]
    # a cap under the 720p end puts the top well inside 720p's curve: no 1080p
    assert next_trials(bbb, s, trial_crfs(s), _tried(bbb), TRIAL_CRFS, 1200, 145.0) == []


def test_the_extra_trial_round_also_extends_a_rising_top():
    from vodflow.media.trials import TRIAL_CRFS, next_trials

    f = Fraction(25)
    pts = [TrialPoint(640, 360, 27, 300, 60), TrialPoint(640, 360, 20, 600, 70),
           TrialPoint(1280, 720, 27, 800, 70), TrialPoint(1280, 720, 20, 1600, 80)]
    assert top_still_rising(pts)
    sizes = [(640, 360, f), (1280, 720, f)]
    assert next_trials(pts, sizes, [(20, 27), (20, 27)], _tried(pts), TRIAL_CRFS) == [((1280, 720, f), (13,))]
    # once measured, not asked again
    more = pts + [TrialPoint(1280, 720, 13, 3200, 84)]
    assert (sizes[1], (13,)) not in next_trials(more, sizes, [(20, 27), (20, 27)], _tried(more), TRIAL_CRFS)
    # the largest size not trialled yet: a rising top brings it in at its own CRFs first
    big = [(640, 360, f), (1280, 720, f), (1920, 1080, f)]
    assert next_trials(pts, big, [(20, 27), (20, 27), (20, 27)], _tried(pts), TRIAL_CRFS) == [(big[2], (20, 27))]


def test_windows_move_back_to_the_key_frame_their_seek_lands_on():
    from vodflow.media.per_title import SEEK_PREROLL_MAX, align_to_key_frames

    # the 1080p Big Buck Bunny master: key frames 5.32 s apart, calibration windows 4.5 s past them
    reads = [(4.51, 1.592), (15.124, 1.592), (25.737, 1.592)]
    samples = [(5.147, 0.318), (15.761, 0.318), (26.374, 0.318)]
    new_reads, new_samples = align_to_key_frames(reads, samples, [0.0, 10.64, 21.24])
    assert new_reads == [(0.0, 1.592), (10.64, 1.592), (21.24, 1.592)]
    # each sample keeps its place inside its read window, and its length
    assert new_samples == [(0.637, 0.318), (11.277, 0.318), (21.877, 0.318)]
    # a short pre-roll, an unknown key frame, or a key frame after the start: the window stays
    stay = [(3.0 + SEEK_PREROLL_MAX - 0.01, 3.0)]
    assert align_to_key_frames(stay, [(4.0, 0.3)], [3.0]) == (stay, [(4.0, 0.3)])
    assert align_to_key_frames(reads, samples, [None, None, None]) == (reads, samples)
    assert align_to_key_frames([(2.0, 1.0)], [(2.0, 1.0)], [2.5]) == ([(2.0, 1.0)], [(2.0, 1.0)])
    # never onto the window before it: one key frame at 0 for the whole title (intra-less long GOP)
    got, _ = align_to_key_frames(reads, samples, [0.0, 0.0, 0.0])
    assert got == [(0.0, 1.592), (15.124, 1.592), (25.737, 1.592)]
    # a key frame a fraction of a millisecond below a round number is not rounded below itself
    assert align_to_key_frames([(9.0, 1.0)], [(9.2, 0.3)], [5.0004])[0] == [(5.001, 1.0)]
    with pytest.raises(ValueError):
        align_to_key_frames(reads, samples, [0.0])


def test_key_frame_before_reads_the_container_index(tmp_path):
    """A real file with key frames every 2 s: ffprobe finds the one a seek lands on, and a window read from it."""
    import dataclasses

    from mediakit import ffmpeg, lavfi

    from vodflow.media.probe import probe
    from vodflow.media.trials import key_frame_before

    path = tmp_path / "gop2.mp4"
    ffmpeg(*lavfi("320x180", "25", 7.0, audio=False), "-c:v", "libx264", "-preset", "ultrafast", "-g", "50",
           "-keyint_min", "50", "-sc_threshold", "0", "-bf", "0", str(path))
    info = probe(path)
    assert key_frame_before(info, 0.0) == pytest.approx(0.0, abs=1e-3)
    assert key_frame_before(info, 3.5) == pytest.approx(2.0, abs=1e-3)
    assert key_frame_before(info, 5.99) == pytest.approx(4.0, abs=1e-3)
    # a file ffprobe cannot read: no key frame known, so the windows stay where they are
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    assert key_frame_before(dataclasses.replace(info, path=bad), 3.5) is None
