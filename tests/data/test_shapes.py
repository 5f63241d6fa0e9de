import numpy as np
import torch

from vaelab.data.shapes import all_factors, factor_sizes, factor_values, render, shapes


def test_shapes_grid_is_complete_deterministic_and_labelled():
    d = shapes(small=True)
    sizes = factor_sizes(small=True)
    n = int(np.prod(sizes))
    assert len(d.train) + len(d.valid) + len(d.test) == n and d.image_shape == (1, 64, 64)
    assert d.binary
    labels = torch.cat([d.labels[s] for s in ("train", "valid", "test")])
    assert len({tuple(r) for r in labels.tolist()}) == n  # every combination exactly once
    again = render(*factor_values(d.labels["test"].numpy(), sizes))[:, None]
    assert torch.equal(torch.as_tensor(again, dtype=torch.float32), d.test)
    assert torch.equal(shapes(small=True).train, d.train)  # same seed, same data


def test_factors_change_the_image_as_named():
    sizes = factor_sizes()
    base = np.array([[1, 0, 3, 3, 3]])
    img = lambda v: render(*factor_values(v, sizes))[0]  # noqa: E731
    ys, xs = np.nonzero(img(base))
    moved = base.copy()
    moved[0, 3] += 2  # x position
    ys2, xs2 = np.nonzero(img(moved))
    assert xs2.mean() > xs.mean() + 3 and abs(ys2.mean() - ys.mean()) < 1
    bigger = base.copy()
    bigger[0, 1] = 3
    assert img(bigger).sum() > 1.5 * img(base).sum()
    assert not np.array_equal(img(np.array([[0, 2, 3, 3, 3]])), img(base))  # shape
    assert len(all_factors(sizes)) == int(np.prod(sizes))
