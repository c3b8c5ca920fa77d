"""The Python API checks what it is given at the door: Inverter.reconstruct, invert, condition and
sample_eps take [N, C] finite logits, [N, dim_z] eps, whole seeds and indices, or say in one line what
they expected (a BiglogitError) before anything is traced."""
import os

import numpy as np
import pytest

from biglogit import BiglogitError
from biglogit.inverter import Inverter

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def inv():
  return Inverter.load(os.path.join(REPO, "pretrained", "cifar10", "resnet4b_gan"))


Z = np.random.default_rng(0).normal(size=(2, 10)).astype(np.float32)
NAN_ROW = Z.copy()
NAN_ROW[1, 3] = np.nan

BAD_CALLS = [
    ("7 logits for 10 classes", lambda i: i.reconstruct(Z[:, :7]), r"logits has shape \[2, 7\]; this inverter takes \[N, 10\]"),
    ("one 1-D vector", lambda i: i.reconstruct(Z[0]), r"has shape \[10\].*use x\[None\]"),
    ("an extra axis", lambda i: i.reconstruct(Z[:, None]), r"has shape \[2, 1, 10\]"),
    ("strings", lambda i: i.reconstruct([["a"] * 10]), "must be numbers of shape"),
    ("ragged", lambda i: i.reconstruct([[1.0] * 10, [1.0] * 3]), "must be numbers of shape"),
    ("a NaN row", lambda i: i.reconstruct(NAN_ROW), r"logits rows \[1\] \(1 of 2\) hold NaN or inf"),
    ("an inf row in condition", lambda i: i.condition(np.full((1, 10), np.inf)), r"rows \[0\]"),
    ("eps of the wrong width", lambda i: i.reconstruct(Z, eps=np.zeros((2, 7))), r"eps must be .*\[2, 120\].*\[2, 7\]"),
    ("eps of the wrong length", lambda i: i.reconstruct(Z, eps=np.zeros((3, 120))), r"got shape \[3, 120\]"),
    ("NaN eps", lambda i: i.reconstruct(Z, eps=np.full((2, 120), np.nan)), "with NaN or inf"),
    ("seed 1.5", lambda i: i.reconstruct(Z, seed=1.5), r"seed=1.5; use an integer from 0"),
    ("seed True", lambda i: i.reconstruct(Z, seed=True), "seed=True"),
    ("seed -1", lambda i: i.sample_eps(3, -1), "seed=-1"),
    ("indices of another length", lambda i: i.reconstruct(Z, indices=[0, 1, 2]), "indices must be 2 whole"),
    ("float indices", lambda i: i.reconstruct(Z, indices=[0.5, 1.5]), "indices must be 2 whole"),
    ("negative indices", lambda i: i.sample_eps([-1, 2], 0), "indices must be whole numbers from 0"),
    ("a count of -2", lambda i: i.sample_eps(-2, 0), "the number of examples=-2"),
    ("levers on a NaN row", lambda i: i.invert(NAN_ROW), r"rows \[1\]"),
    ("invert of nothing", lambda i: i.invert(np.zeros((0, 10))), "logits has no rows"),
]


@pytest.mark.parametrize("call,message", [(c, m) for _, c, m in BAD_CALLS], ids=[n for n, _, _ in BAD_CALLS])
def test_bad_api_input_is_one_line_saying_what_was_expected(inv, call, message):
  with pytest.raises(BiglogitError, match=message) as info:
    call(inv)
  assert "\n" not in str(info.value)


def test_a_batch_of_zero_is_zero_images_of_the_right_shape(inv):
  out = inv.reconstruct(np.zeros((0, 10), np.float32))
  assert out.shape == (0, 32, 32, 3) and out.dtype == np.float32


def test_good_input_still_reconstructs(inv):
  a = inv.reconstruct(Z, seed=3)
  b = inv.reconstruct(Z.astype(np.float64).tolist(), seed=np.int64(3), indices=np.arange(2, dtype=np.int32))
  assert a.shape == (2, 32, 32, 3) and np.isfinite(a).all()
  np.testing.assert_array_equal(a, b)
