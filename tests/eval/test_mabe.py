"""The MABe22 round-1 protocol: our fast and reference paths against a direct computation."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from sklearn.linear_model import Ridge, RidgeClassifier
from sklearn.metrics import f1_score, mean_squared_error
from sklearn.model_selection import train_test_split

from behavenet.cli import main
from behavenet.errors import FormatError
from behavenet.eval._ridge import binary_f1
from behavenet.eval.mabe import (
    RESULT_COLUMNS,
    MabeLabels,
    MabeTasks,
    evaluate,
    evaluate_files,
    load_labels,
    load_split,
    load_tasks,
    summarize,
)

ALPHAS = [0.1, 0.5, 1.0, 2.0, 5.0]


# ----------------------------------------------------------------------------------------------
# An independent, literal implementation of research note §3 (sklearn per seed/task/alpha)
# ----------------------------------------------------------------------------------------------


def direct_protocol(fx, split=None, official_compat=False, average_slots=None, dtype=None):
    """``official_compat``: misaligned pooling and, unless ``dtype`` says otherwise, sklearn fitted
    on the float32 matrix as the official code does."""
    E, lab, vocab, ttype, fmap = fx.embeddings, fx.label_array, fx.vocabulary, fx.task_type, fx.frame_map
    dtype = dtype or (np.float32 if official_compat else np.float64)
    split = split or fx.split_lists
    tasks = fx.task_info
    n = E.shape[0]

    def index(clips):
        m = np.zeros(n, bool)
        for c in clips:
            s, e = fmap[c]
            m[s:e] = True
        return m

    models = {}
    for seed in tasks["seeds"]:
        train, _ = train_test_split(split["SubmissionTrain"], test_size=0.1, random_state=seed)
        m = index(train)
        for tid in tasks["task_id_list"]:
            r = vocab.index(tid)
            for a in ALPHAS:
                y = lab[r, m]
                keep = ~np.isnan(y)
                X = E[m][keep].astype(dtype)
                if ttype[r] == "Discrete":
                    model = RidgeClassifier(class_weight="balanced", alpha=a)
                else:
                    model = Ridge(alpha=a)
                models[seed, tid, a] = model.fit(X, y[keep])

    rows = []
    for tid in tasks["task_id_list"]:
        r = vocab.index(tid)
        disc = ttype[r] == "Discrete"
        flagged = tid in tasks["sequence_level_tasks"]

        def metric(yt, yp):
            if disc:
                return f1_score(yt, yp, average="binary", zero_division=0.0)
            return mean_squared_error(yt, yp)

        def merge(preds):
            return np.float32(np.mean(preds, axis=0) > 0) if disc else np.mean(preds, axis=0)

        def split_preds(key, a):
            m = index(split[key])
            y = lab[r, m]
            keep = ~np.isnan(y)
            X = E[m][keep].astype(dtype)
            return y[keep], [models[s, tid, a].predict(X) for s in tasks["seeds"]]

        cols = {}
        for a in ALPHAS:
            y_pub, p_pub = split_preds("publicTest", a)
            y_pri, p_pri = split_preds("privateTest", a)
            y_all = np.concatenate([y_pri, y_pub])
            p_all = [np.concatenate([q, p]) for q, p in zip(p_pri, p_pub)]
            cols[f"Score Alpha {a}"] = metric(y_all, merge(p_all))
            if a != 1.0:
                continue
            cols["Private Score"] = metric(y_all, merge(p_all))
            cols["Public Score"] = metric(y_pub, merge(p_pub))
            cols["Metric"] = "f1_score" if disc else "mean_mse"
            cols["No Ensemble Score"] = float(np.mean([metric(y_all, p) for p in p_all]))
            if not flagged:
                cols["Pooled Score"] = -1.0
            else:
                truth, pred = [], []
                for key, preds in (("publicTest", p_pub), ("privateTest", p_pri)):
                    merged = merge(preds)
                    own, pos = {}, 0
                    for c in sorted(split[key], key=lambda c: fmap[c][0]):
                        s, e = fmap[c]
                        nv = int((~np.isnan(lab[r, s:e])).sum())
                        own[c] = merged[pos : pos + nv]
                        pos += nv
                    cursor = 0
                    for c in split[key]:
                        s, e = fmap[c]
                        yc = lab[r, s:e]
                        yc = yc[~np.isnan(yc)]
                        if yc.size == 0:
                            continue
                        seg = merged[cursor : cursor + yc.size] if official_compat else own[c]
                        cursor += yc.size
                        t, p = np.mean(yc), np.mean(seg)
                        truth.append(int(t >= 0.5) if disc else t)
                        pred.append(int(p >= 0.5) if disc else p)
                cols["Pooled Score"] = metric(truth, pred)
            cols["Sequence Level Task"] = flagged
        rows.append((tid, cols))
    if average_slots:
        plain = [(t, c) for t, c in rows if "singletask" not in t]
        slots = [(t, c) for t, c in rows if "singletask" in t]
        for base in sorted({t.split("_singletask")[0] for t, _ in slots}):
            members = [c for t, c in slots if base in t]
            avg = {k: float(np.mean([m[k] for m in members])) for k in members[0] if "Score" in k}
            avg["Metric"] = "f1_score"
            avg["Sequence Level Task"] = members[0]["Sequence Level Task"]
            plain.append((base, avg))
        rows = plain
    return rows


def assert_rows_close(ours, theirs, tol=1e-9):
    assert [t for t, _ in ours] == [t for t, _ in theirs]
    for (tid, a), (_, b) in zip(ours, theirs):
        assert set(a) == set(b), tid
        for k in a:
            if isinstance(b[k], (bool, str)):
                assert a[k] == b[k], (tid, k)
            else:
                assert a[k] == pytest.approx(b[k], abs=tol, rel=tol), (tid, k, a[k], b[k])


def _load(fx):
    return (
        load_npy_embeddings(fx),
        load_labels(fx.labels),
        load_split(fx.split),
        load_tasks(fx.tasks),
    )


def load_npy_embeddings(fx):
    from behavenet.utils.safe_pickle import load_npy_dict

    return load_npy_dict(fx.submission, mmap=True)["embeddings"]


# ----------------------------------------------------------------------------------------------
# Tests
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["fast", "reference"])
@pytest.mark.parametrize("compat", [False, True])
def test_mouse_matches_direct_computation(make_mabe, method, compat):
    fx = make_mabe("m", seed=3, scale=0.02)  # small scale: the alphas give different scores
    ours = evaluate_files(fx.submission, fx.labels, fx.split, fx.tasks, method=method, official_compat=compat)
    theirs = direct_protocol(fx, official_compat=compat)
    # float32 fits: same predictions; sklearn accumulates the float32 MSE in float32
    assert_rows_close(ours.rows, theirs, tol=1e-6 if compat else 1e-9)
    assert ours.meta["precision"] == ("float32" if compat else "float64")
    private = [c[f"Score Alpha {a}"] for _, c in ours.rows for a in ALPHAS]
    assert len(set(np.round(private, 12))) > len(ours.rows)  # alpha matters on this fixture
    assert list(ours.rows[0][1]) == RESULT_COLUMNS


def test_variable_clip_lengths_and_tiny_chunks(make_mabe):
    fx = make_mabe("v", seed=5, variable_lengths=True, n_clips=40, scale=0.05)
    emb, labels, split, tasks = _load(fx)
    ours = evaluate(emb, labels, split, tasks, chunk_rows=7)
    assert_rows_close(ours.rows, direct_protocol(fx))


@pytest.mark.parametrize("compat", [False, True])
def test_fly_slot_averaging_and_duplicated_control(fly_fixture, compat):
    fx = fly_fixture
    ours = evaluate_files(fx.submission, fx.labels, fx.split, fx.tasks, official_compat=compat)
    assert ours.meta["species"] == "fly"
    theirs = direct_protocol(fx, official_compat=compat, average_slots=True)
    assert_rows_close(ours.rows, theirs)
    ids = [t for t, _ in ours.rows]
    # non-slot rows in task-list order, then the averaged rows sorted by name
    assert ids == ["control", "lineA", "control", "aggression", "female", "perframe_chase"]
    assert ours.rows[0][1] == ours.rows[2][1]  # both 'control' rows score vocabulary row 0

    # the per-slot rows (no averaging) explain the averaged ones
    emb, labels, split, tasks = _load(fx)
    per_slot = dict(evaluate(emb, labels, split, tasks, species="mouse", official_compat=compat).rows)
    female = dict(ours.rows)["female"]
    slots = [per_slot[f"female_singletask_fly_{k}"] for k in range(3)]
    assert slots[1]["Pooled Score"] == -1.0 and slots[2]["Pooled Score"] == -1.0  # unflagged slots
    assert female["Pooled Score"] == pytest.approx((slots[0]["Pooled Score"] - 2.0) / 3, abs=1e-12)
    assert female["Private Score"] == pytest.approx(np.mean([s["Private Score"] for s in slots]), abs=1e-12)
    assert female["Sequence Level Task"] is True  # the first slot's flag
    assert dict(ours.rows)["perframe_chase"]["Sequence Level Task"] is False

    # the superclass 'control' (vocabulary row 2, different labels) is never scored
    swapped = MabeLabels(labels.label_array.copy(), labels.vocabulary, labels.task_type, labels.frame_number_map)
    swapped.label_array[2] = np.nan
    again = evaluate(emb, swapped, split, tasks, official_compat=compat)
    assert_rows_close(again.rows, ours.rows, tol=0)

    # JSON keys stay unique
    scores = ours.scores()
    assert "control" in scores and "control#2" in scores


def test_order_of_split_list_matters(make_mabe):
    fx = make_mabe("o", seed=11, scale=0.05)
    emb, labels, split, tasks = _load(fx)
    base = evaluate(emb, labels, split, tasks)
    sorted_split = dict(split, SubmissionTrain=sorted(split["SubmissionTrain"]))
    changed = evaluate(emb, labels, sorted_split, tasks)
    assert_rows_close(changed.rows, direct_protocol(fx, split=sorted_split))
    diffs = [
        tid for (tid, a), (_, b) in zip(base.rows, changed.rows) if abs(a["Private Score"] - b["Private Score"]) > 1e-12
    ]
    assert len(diffs) >= 3  # the 90% subsets differ, so (almost) every task's score moves


def test_official_compat_pooling_differs_exactly_when_lists_are_unordered(make_mabe):
    fx = make_mabe("p", seed=2)
    emb, labels, split, tasks = _load(fx)
    fmap = labels.frame_number_map

    def run(sp, compat):  # float64 fits in both: only the pooling differs
        return dict(evaluate(emb, labels, sp, tasks, official_compat=compat, precision="float64").rows)

    # the fixture's test lists are not in frame order -> only Pooled Score can differ
    assert split["publicTest"] != sorted(split["publicTest"], key=lambda c: fmap[c][0])
    good, compat = run(split, False), run(split, True)
    differs = []
    for tid in good:
        for col in RESULT_COLUMNS:
            if col != "Pooled Score":
                assert good[tid][col] == compat[tid][col]
        if good[tid]["Pooled Score"] != compat[tid]["Pooled Score"]:
            differs.append(tid)
    assert differs and set(differs) <= set(tasks.sequence_level_tasks)

    # test lists in frame order -> identical, with NaN-labelled clips included
    ordered = dict(
        split,
        publicTest=sorted(split["publicTest"], key=lambda c: fmap[c][0]),
        privateTest=sorted(split["privateTest"], key=lambda c: fmap[c][0]),
    )
    assert run(ordered, False) == run(ordered, True)
    # and the corrected score does not depend on the list order
    assert_rows_close(list(run(ordered, False).items()), list(good.items()), tol=1e-12)


def test_ill_defined_f1_is_zero(make_mabe):
    fx = make_mabe("z", seed=4)
    emb, labels, split, tasks = _load(fx)
    row = labels.vocabulary.index("chases")
    arr = labels.label_array.copy()
    arr[row] = 0.0  # no positive anywhere: single-class training, all-0 predictions
    lab = MabeLabels(arr, labels.vocabulary, labels.task_type, labels.frame_number_map)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no UndefinedMetricWarning from our path
        fast = dict(evaluate(emb, lab, split, tasks).rows)
    ref = dict(evaluate(emb, lab, split, tasks, method="reference").rows)
    for res in (fast, ref):
        c = res["chases"]
        assert c["Private Score"] == 0.0 and c["Public Score"] == 0.0 and c["No Ensemble Score"] == 0.0
        assert all(c[f"Score Alpha {a}"] == 0.0 for a in ALPHAS)
    assert binary_f1(0, 0, 0) == 0.0
    assert binary_f1(0, 3, 0) == 0.0
    assert binary_f1(2, 1, 1) == pytest.approx(f1_score([1, 1, 0, 1], [1, 1, 1, 0]))


def test_summary_formula():
    rows = [
        (
            "a",
            {
                "Metric": "mean_mse",
                "Private Score": 0.1,
                "Sequence Level Task": True,
                **{f"Score Alpha {x}": 0.1 + i * 0.01 for i, x in enumerate(ALPHAS)},
            },
        ),
        (
            "b",
            {
                "Metric": "mean_mse",
                "Private Score": 0.3,
                "Sequence Level Task": False,
                **{f"Score Alpha {x}": 0.3 for x in ALPHAS},
            },
        ),
        (
            "c",
            {
                "Metric": "f1_score",
                "Private Score": 0.8,
                "Sequence Level Task": True,
                **{f"Score Alpha {x}": 0.8 for x in ALPHAS},
            },
        ),
        (
            "d",
            {
                "Metric": "f1_score",
                "Private Score": 0.2,
                "Sequence Level Task": False,
                **{f"Score Alpha {x}": 0.2 + i * 0.1 for i, x in enumerate(ALPHAS)},
            },
        ),
        (
            "e",
            {
                "Metric": "f1_score",
                "Private Score": 0.4,
                "Sequence Level Task": False,
                **{f"Score Alpha {x}": 0.4 for x in ALPHAS},
            },
        ),
    ]
    s = summarize(rows)
    assert s["All-MSE"] == pytest.approx(0.2)
    assert s["All-F1"] == pytest.approx((0.8 + 0.2 + 0.4) / 3)
    assert s["Frame-F1"] == pytest.approx(0.3)
    assert s["Sequence-F1"] == pytest.approx(0.8)
    assert s["All-MSE_alpha_std"] == pytest.approx(np.std([0.1, 0.11, 0.12, 0.13, 0.14]) / 2)
    assert s["Frame-F1_alpha_std"] == pytest.approx(np.std([0.2, 0.3, 0.4, 0.5, 0.6]) / 2)
    assert summarize(rows[2:])["All-MSE"] is None


def test_non_binary_discrete_labels_refused(make_mabe):
    fx = make_mabe("nb", seed=6)
    emb, labels, split, tasks = _load(fx)
    arr = labels.label_array.copy()
    arr[labels.vocabulary.index("close"), :5] = 2.0
    with pytest.raises(FormatError, match="0/1"):
        evaluate(emb, MabeLabels(arr, labels.vocabulary, labels.task_type, labels.frame_number_map), split, tasks)


def test_inputs_are_checked(mouse_fixture, tmp_path):
    fx = mouse_fixture
    emb, labels, split, tasks = _load(fx)
    with pytest.raises(FormatError, match="no label row"):
        evaluate(emb, labels, split, MabeTasks([42], ["nope"], []))
    with pytest.raises(FormatError, match="not in the frame number map"):
        evaluate(emb, labels, dict(split, publicTest=["ghost"]), tasks)
    # a submission whose map disagrees with the labels' map is refused before any fit
    shifted = dict(fx.frame_map)
    k = next(iter(shifted))
    shifted[k] = (shifted[k][0] + 1, shifted[k][1] + 1)
    bad = tmp_path / "bad.npy"
    np.save(bad, {"frame_number_map": shifted, "embeddings": fx.embeddings}, allow_pickle=True)
    with pytest.raises(FormatError, match="shifted"):
        evaluate_files(bad, fx.labels, fx.split, fx.tasks)


def test_raw_matrix_submission_accepted(mouse_fixture, tmp_path):
    fx = mouse_fixture
    raw = tmp_path / "raw.npy"
    np.save(raw, fx.embeddings)
    a = evaluate_files(raw, fx.labels, fx.split, fx.tasks)
    b = evaluate_files(fx.submission, fx.labels, fx.split, fx.tasks)
    assert a.rows == b.rows


def test_cli_writes_json_and_csv(mouse_fixture, tmp_path, capsys):
    fx = mouse_fixture
    out_json, out_csv = tmp_path / "r.json", tmp_path / "r.csv"
    args = [
        "mabe-eval",
        "--submission",
        str(fx.submission),
        "--labels",
        str(fx.labels),
        "--split",
        str(fx.split),
        "--tasks",
        str(fx.tasks),
        "--json",
        str(out_json),
        "--csv",
        str(out_csv),
    ]
    assert main(args) == 0
    data = json.loads(out_json.read_text())
    assert set(data) >= {"scores", "summary"}
    assert set(data["scores"]) == set(fx.task_info["task_id_list"])
    assert list(data["scores"]["strain"]) == RESULT_COLUMNS
    assert set(data["summary"]) >= {"All-F1", "Frame-F1", "Sequence-F1", "All-MSE"}
    header = out_csv.read_text().splitlines()[0].split(",")
    assert header == ["Task ID"] + RESULT_COLUMNS
    assert not list(tmp_path.glob(".tmp-*"))
    assert main(args[:-2] + ["--official-compat", "--quiet"]) == 0
    compat = json.loads(out_json.read_text())
    assert compat["meta"]["official_compat"] is True
    # a bad labels path is a one-line error with exit code 2
    bad = list(args)
    bad[bad.index("--labels") + 1] = str(tmp_path / "missing.npy")
    assert main(bad) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("behavenet mabe-eval: error:") and "missing.npy" in err
