"""NetTrain's data forms and their messages (reference §9.2, §9.13; wl-nets.md §5)."""

from __future__ import annotations

import numpy as np
import pytest
from wolframclient.language import wl
from wolframclient.serializers import export

from engine.spec import DecoderSpec, LayerSpec, NetSpec, TensorType
from wlbridge.data import to_dataset
from wlbridge.messages import WLMessage


def classifier_spec() -> NetSpec:
    """NetChain[{LinearLayer[3], SoftmaxLayer[]}, "Input" -> 4, "Output" -> Class a,b,c]."""
    return NetSpec(
        kind="chain",
        nodes={"1": LayerSpec("LinearLayer", {"OutputDimensions": (3,)}),
               "2": LayerSpec("SoftmaxLayer")},
        inputs={"Input": TensorType((4,))}, outputs={"Output": TensorType((3,))},
        decoders={"Output": DecoderSpec("Class", ("a", "b", "c"))})


def regression_spec() -> NetSpec:
    return NetSpec(kind="chain", nodes={"1": LayerSpec("LinearLayer", {"OutputDimensions": (2,)})},
                   inputs={"Input": TensorType((3,))}, outputs={"Output": TensorType((2,))})


X = np.arange(12, dtype=np.float32).reshape(3, 4)


def test_rules_list_and_rule_of_lists_and_columns_agree():
    """§9.2: {in -> out, ...}, {ins} -> {outs} and <|port -> column|> give the same data."""
    spec = classifier_spec()
    rules = tuple(wl.Rule(tuple(map(float, x)), y) for x, y in zip(X, "abc", strict=True))
    a = to_dataset(rules, spec)
    b = to_dataset(wl.Rule(tuple(tuple(map(float, x)) for x in X), ("a", "b", "c")), spec)
    c = to_dataset({"Input": X, "Output": ["a", "b", "c"]}, spec)
    d = to_dataset((X, np.array(["a", "b", "c"])), spec)
    e = to_dataset([(x, y) for x, y in zip(X, "abc", strict=True)], spec)
    f = to_dataset(tuple({"Input": tuple(map(float, x)), "Output": y}
                         for x, y in zip(X, "abc", strict=True)), spec)
    for ds in (a, b, c, d, e, f):
        assert list(ds.columns) == ["Input", "Output"]
        np.testing.assert_array_equal(ds.columns["Input"], X)
        np.testing.assert_array_equal(ds.columns["Output"], [1, 2, 3])  # 1-based class index


def test_files_wxf_and_npz(tmp_path):
    spec = regression_spec()
    x, y = np.ones((5, 3)), np.zeros((5, 2))
    p = tmp_path / "d.npz"
    np.savez(p, Input=x, Output=y)
    assert len(to_dataset(str(p), spec)) == 5
    w = tmp_path / "d.wxf"
    w.write_bytes(export({"Input": x, "Output": y}, target_format="wxf"))
    ds = to_dataset(w, spec)
    np.testing.assert_array_equal(ds.columns["Output"], y)


def _msg(data, spec, tag):
    with pytest.raises(WLMessage) as info:
        to_dataset(data, spec)
    assert f"NetTrain::{tag}:" in str(info.value)
    return str(info.value)


def test_nodata():
    _msg((), classifier_spec(), "nodata")
    _msg({"Input": np.zeros((0, 4)), "Output": []}, classifier_spec(), "nodata")


def test_invtdata_forms():
    _msg(42, classifier_spec(), "invtdata")
    _msg((wl.Rule(1, 2), 3), classifier_spec(), "invtdata")
    _msg("missing-file.npz", classifier_spec(), "invtdata")


def test_unknown_class_names_the_example():
    text = _msg({"Input": X, "Output": ["a", "z", "c"]}, classifier_spec(), "invtdata")
    # the class is shown as the user wrote it, in Wolfram form
    assert "example 2" in text and '"z"' in text


def test_wrong_shape_and_ragged_name_the_example():
    text = _msg({"Input": np.zeros((3, 5)), "Output": ["a"] * 3}, classifier_spec(), "invtdata")
    assert "[5]" in text and "[4]" in text
    ragged = ((1.0, 2.0, 3.0, 4.0), (1.0, 2.0, 3.0, 4.0), (1.0, 2.0))
    text = _msg({"Input": ragged, "Output": ["a"] * 3}, classifier_spec(), "invtdata")
    assert "example 3" in text


def test_index_targets_out_of_range():
    spec = classifier_spec()
    spec.decoders = {}
    text = _msg({"Input": X, "Output": [1, 4, 2]}, spec, "invtdata")
    assert "example 2" in text and "1..3" in text


def test_invinlen_missinslot_contmiss_invsimplein():
    spec = classifier_spec()
    _msg({"Input": X, "Output": ["a", "b"]}, spec, "invinlen")
    _msg({"Input": X}, spec, "missinslot")
    text = _msg({"Input": X, "Output": ("a", wl.Missing(), "b")}, spec, "contmiss")
    assert "example 2" in text
    two = NetSpec(kind="graph", nodes={}, inputs={"A": TensorType((1,)), "B": TensorType((1,))},
                  outputs={"Output": TensorType((1,))})
    _msg((wl.Rule((1.0,), (1.0,)),), two, "invsimplein")


def test_extra_columns_are_dropped():
    ds = to_dataset({"Input": X, "Output": ["a", "b", "c"], "Extra": [1, 2, 3]},
                    classifier_spec())
    assert set(ds.columns) == {"Input", "Output"}
