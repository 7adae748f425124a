import cv2
import numpy as np
import pytest

from featsel.datasets.restoration import (hamming, make_scene,
                                          near_duplicate_pairs, phash,
                                          phash_hex)
from featsel.datasets.restoration.phash import (NEAR_DUPLICATE_BITS,
                                                parse_phash)


def _scene(seed, size=96):
    img, _ = make_scene(np.random.default_rng(seed), size, size)
    return np.round(img * 255).astype(np.uint8)


def test_resized_jpeg_copy_is_a_near_duplicate():
    img = _scene(0)
    bigger = cv2.resize(img, (150, 150), interpolation=cv2.INTER_CUBIC)
    ok, buf = cv2.imencode('.jpg', bigger, [cv2.IMWRITE_JPEG_QUALITY, 50])
    copy = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    assert hamming(phash(img), phash(copy)) <= 3


def test_distinct_images_are_far_apart():
    hashes = [phash(_scene(seed)) for seed in range(12)]
    dists = [hamming(a, b) for i, a in enumerate(hashes)
             for b in hashes[:i]]
    assert min(dists) > NEAR_DUPLICATE_BITS
    assert near_duplicate_pairs(hashes) == []


def test_hex_form_and_contrast_invariance():
    img = _scene(1).astype(np.float32) / 255
    text = phash_hex(img)
    assert len(text) == 16 and parse_phash(text) == phash(img)
    # the DCT is linear and the bits compare with the median: scaling the
    # image (lower contrast) keeps every bit
    assert phash(0.6 * img) == phash(img)
    # the mirror image moves the odd horizontal frequencies' signs
    assert hamming(phash(img), phash(img[:, ::-1])) > NEAR_DUPLICATE_BITS
    with pytest.raises(ValueError, match='16 hex digits'):
        parse_phash('abc')


def test_pairs_match_brute_force():
    rng = np.random.default_rng(0)
    base = [int(rng.integers(0, 2**63)) for _ in range(30)]
    # near copies: flip 1..10 bits of some hashes
    hashes = base + [h ^ sum(1 << int(b) for b in rng.choice(64, k,
                                                              False))
                     for h, k in zip(base[:10], range(1, 11))]
    brute = [(i, j, hamming(hashes[i], hashes[j]))
             for i in range(len(hashes)) for j in range(i + 1, len(hashes))
             if hamming(hashes[i], hashes[j]) <= 6]
    assert near_duplicate_pairs(hashes, 6, block=7) == brute
    assert len(brute) >= 6
