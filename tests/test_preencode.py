"""Pre-encoding versus per-batch encoding, up-front sequence lengths, the memory bound.

Rules from nettrain-loop.md §8.5 (DisablePreEncoding, the 1/8 memory bound, lengths always
measured) and §7.2 (lengths before the permutation).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from engine.batching import make_permutation
from engine.encoders import encode_column
from engine.errors import EngineError
from engine.preencode import PreEncodingWarning, plan_encoding, pre_encoding_enabled
from engine.spec import EncoderSpec, TrainConfig

CHARS = EncoderSpec("Characters", ("abcdefgh ",))
TOKENS = EncoderSpec("Tokens", ("cat", "dog", "fish"))
CLASS = EncoderSpec("Class", ("no", "yes"))


def _strings(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("abcdefgh "), size=int(k))) for k in rng.integers(1, 50, n)]


def _sentences(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    words = ["cat", "dog", "fish", "bird"]
    return [" ".join(rng.choice(words, size=int(k))) for k in rng.integers(1, 12, n)]


def _columns(n: int = 300) -> dict[str, object]:
    rng = np.random.default_rng(5)
    return {"Input": _strings(n), "Words": _sentences(n), "Label": list(rng.choice(["no", "yes"], n)),
            "X": rng.standard_normal((n, 3)).astype(np.float32)}


ENCODERS = {"Input": CHARS, "Words": TOKENS, "Label": CLASS}


def _same_batches(a, b) -> None:
    assert a.keys() == b.keys()
    for port in a:
        if isinstance(a[port], np.ndarray):
            np.testing.assert_array_equal(a[port], b[port])
        else:
            assert len(a[port]) == len(b[port])
            for x, y in zip(a[port], b[port], strict=True):
                np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize(
    ("rounds", "flag", "enabled"),
    [(None, None, True), (10, None, True), (5, None, True), (4, None, False), (1, None, False),
     (4, False, True), (4, True, False), (10, True, False)],
)
def test_flag_rules(rounds, flag, enabled):
    """§8.5: off by default only for an explicit MaxTrainingRounds < 5; True disables; any other
    given value enables, overriding the rounds rule."""
    cfg = TrainConfig(max_training_rounds=rounds, disable_pre_encoding=flag)
    assert pre_encoding_enabled(cfg) is enabled
    plan = plan_encoding({"Label": ["no", "yes"]}, {"Label": CLASS}, cfg)
    assert plan.enabled is enabled
    assert (plan.pre_encoded == {"Label"}) is enabled
    assert (set(plan.per_batch) == {"Label"}) is not enabled


@pytest.mark.parametrize("flag", [None, True])
def test_lengths_always_measured(flag):
    """§8.5/§7.2: every variable-length column's lengths exist before training, encoded or not."""
    cols = _columns()
    plan = plan_encoding(cols, ENCODERS, TrainConfig(disable_pre_encoding=flag))
    assert set(plan.lengths) == {"Input", "Words"}
    np.testing.assert_array_equal(plan.lengths["Input"], [len(s) for s in cols["Input"]])
    np.testing.assert_array_equal(plan.lengths["Words"], [len(s.split()) for s in cols["Words"]])
    assert plan.lengths_by_var({"Input": 0, "Words": 1}).keys() == {0, 1}


def test_raw_sequences_and_arrays_pass_through():
    seqs = [np.arange(k) for k in (3, 1, 4)]
    plan = plan_encoding({"S": seqs, "X": [[1.0], [2.0], [3.0]], "B": [True, False, True]}, {}, TrainConfig())
    np.testing.assert_array_equal(plan.lengths["S"], [3, 1, 4])
    batch = plan.batch([2, 0])
    np.testing.assert_array_equal(batch["S"][0], np.arange(4))
    np.testing.assert_array_equal(batch["X"], [[3.0], [1.0]])
    assert batch["B"].dtype == np.float32 and list(batch["B"]) == [1.0, 1.0]
    assert plan.pre_encoded == set()


def test_disabled_pre_encoding_gives_identical_batches():
    """DisablePreEncoding -> True encodes inside each batch ("gen") and the batches are the same
    as the pre-encoded ones, over a whole bucketed round."""
    cols = _columns()
    pre = plan_encoding(cols, ENCODERS, TrainConfig())
    per = plan_encoding(cols, ENCODERS, TrainConfig(disable_pre_encoding=True))
    assert pre.pre_encoded == {"Input", "Words", "Label"} and not pre.per_batch
    assert set(per.per_batch) == {"Input", "Words", "Label"} and per.pre_encoded == set()
    perm = make_permutation(pre.lengths["Input"], 16, 4, np.random.default_rng(0))
    for row in perm:
        _same_batches(pre.batch(row), per.batch(row))
    codes = encode_column(CHARS, [cols["Input"][7]])[0]
    np.testing.assert_array_equal(per.batch([7])["Input"][0], codes)


def test_memory_bound_falls_back_to_per_batch_with_a_message():
    """§8.5: a column over the memory bound is encoded per batch instead; the message names the
    input; the batches are unchanged."""
    cols = _columns()
    full = plan_encoding(cols, ENCODERS, TrainConfig())
    label_bytes = 8 * 300
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tight = plan_encoding(cols, ENCODERS, TrainConfig(), memory_limit=label_bytes)
    texts = [str(w.message) for w in caught if issubclass(w.category, PreEncodingWarning)]
    assert texts == tight.messages and len(texts) == 2
    assert all(t.startswith("NetTrain::preencmem: the encoded input ") for t in texts)
    assert "'Input'" in texts[0] and "'Words'" in texts[1] and "per batch" in texts[0]
    assert tight.pre_encoded == {"Label"} and set(tight.per_batch) == {"Input", "Words"}
    np.testing.assert_array_equal(tight.lengths["Input"], full.lengths["Input"])
    np.testing.assert_array_equal(tight.lengths["Words"], full.lengths["Words"])
    for row in np.arange(300).reshape(-1, 30):
        _same_batches(full.batch(row), tight.batch(row))


def test_fixed_encoding_over_the_bound_is_not_encoded_up_front():
    cols = {"Label": ["no", "yes"] * 150}
    with pytest.warns(PreEncodingWarning, match="needs about 2.3 kB but at most 100 bytes"):
        plan = plan_encoding(cols, {"Label": CLASS}, TrainConfig(), memory_limit=100)
    assert plan.per_batch.keys() == {"Label"} and "'Label'" in plan.messages[0]
    np.testing.assert_array_equal(plan.batch([0, 1, 3])["Label"], [1, 2, 2])


def test_small_columns_are_always_kept():
    """§8.5: columns with fewer than 256 examples are kept whatever the bound."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plan = plan_encoding({"Input": _strings(100)}, {"Input": CHARS}, TrainConfig(), memory_limit=1)
    assert plan.pre_encoded == {"Input"} and not plan.messages


@pytest.mark.parametrize("flag", [None, True])
def test_encoding_errors_name_the_example_in_the_data(flag):
    cols = {"Input": _strings(300)}
    cols["Input"][290] = "abcz"
    if flag is None:
        with pytest.raises(EngineError, match=r"example 291: the character 'z'"):
            plan_encoding(cols, {"Input": CHARS}, TrainConfig())
        return
    plan = plan_encoding(cols, {"Input": CHARS}, TrainConfig(disable_pre_encoding=flag))
    plan.batch([0, 1])
    with pytest.raises(EngineError, match=r"NetTrain::invindata: example 291: the character 'z'"):
        plan.batch([288, 290])
    cols["Input"][5] = 17
    with pytest.raises(EngineError, match=r"example 6: 17 is not a string"):
        plan_encoding(cols, {"Input": CHARS}, TrainConfig(disable_pre_encoding=True))


def test_inputs_sharing_a_length_must_agree():
    plan = plan_encoding({"A": [np.ones(2), np.ones(3)], "B": [np.ones(2), np.ones(4)]}, {}, TrainConfig())
    with pytest.raises(EngineError, match="incseqlen: example 2"):
        plan.lengths_by_var({"A": 0, "B": 0})
    with pytest.raises(EngineError, match="'B' has 1 examples"):
        plan_encoding({"A": [1, 2], "B": [1]}, {}, TrainConfig())
