"""The lecture's information-theory facts, as tests."""

import math

import pytest
import torch

from vaelab.info import discrete as D


def test_lecture_examples():
    assert float(D.self_information(1.0)) == 0.0  # a certain event: 0 bits
    assert float(D.entropy(torch.tensor([1.0, 0.0]))) == pytest.approx(0.0, abs=1e-12)
    assert float(D.entropy(torch.tensor([0.5, 0.5]))) == pytest.approx(1.0)  # coin: 1 bit
    assert float(D.entropy(torch.full((6,), 1 / 6))) == pytest.approx(2.585, abs=1e-3)  # die
    assert D.uniform_entropy(10_000) == pytest.approx(13.29, abs=1e-2)  # a word
    assert D.max_image_information(1000, 1000) == 24_000_000  # 1000x1000 RGB image
    assert float(D.self_information(0.5)) == pytest.approx(1.0)
    assert float(D.entropy(torch.tensor([0.5, 0.5]), base=math.e)) == pytest.approx(math.log(2))


def test_unlikely_events_carry_more_information():
    p = torch.tensor([0.9, 0.09, 0.01])
    i = D.self_information(p)
    assert i[0] < i[1] < i[2]
    assert float(D.entropy(p)) == pytest.approx(float((p * i).sum()))  # H = E[I(x)]


def test_kl_properties():
    p, q = torch.tensor([0.7, 0.2, 0.1]), torch.tensor([0.4, 0.4, 0.2])
    kpq, kqp = float(D.kl(p, q)), float(D.kl(q, p))
    hand = sum(a * math.log2(a / b) for a, b in zip(p.tolist(), q.tolist()))
    assert kpq == pytest.approx(hand) and kpq > 0 and kqp > 0
    assert abs(kpq - kqp) > 1e-3  # not symmetric
    assert float(D.kl(p, p)) == pytest.approx(0.0, abs=1e-12)  # zero iff equal
    assert float(D.cross_entropy(p, q)) == pytest.approx(float(D.entropy(p)) + kpq)
    assert math.isinf(float(D.kl(p, torch.tensor([1.0, 0.0, 0.0]))))
    torch.manual_seed(0)
    for _ in range(50):  # non-negative for random pairs (Gibbs' inequality)
        a, b = torch.rand(5).softmax(0), torch.rand(5).softmax(0)
        assert float(D.kl(a, b)) >= 0


def test_mutual_information_of_joint_tables():
    indep = torch.outer(torch.tensor([0.3, 0.7]), torch.tensor([0.6, 0.4]))
    assert float(D.mutual_information(indep)) == pytest.approx(0.0, abs=1e-12)
    copy = torch.tensor([[0.5, 0.0], [0.0, 0.5]])  # Y = X, a fair bit: I = H(X) = 1 bit
    assert float(D.mutual_information(copy)) == pytest.approx(1.0)
    j = torch.tensor([[0.3, 0.1], [0.2, 0.4]])
    hx, hy = D.entropy(j.sum(1)), D.entropy(j.sum(0))
    mi = float(D.mutual_information(j))
    assert mi == pytest.approx(float(hx - D.conditional_entropy(j)))  # H(X) - H(X|Y)
    assert mi == pytest.approx(float(hy - D.conditional_entropy(j.T)))  # H(Y) - H(Y|X)
    # by hand: sum p(x,y) log p(x,y)/(p(x)p(y))
    px, py = j.sum(1), j.sum(0)
    hand = sum(float(j[a, b]) * math.log2(float(j[a, b] / (px[a] * py[b])))
               for a in range(2) for b in range(2))
    assert mi == pytest.approx(hand)


def test_invalid_distributions():
    with pytest.raises(ValueError, match="sum to 1"):
        D.entropy(torch.tensor([0.5, 0.6]))
    with pytest.raises(ValueError, match="base"):
        D.entropy(torch.tensor([0.5, 0.5]), base=1)
