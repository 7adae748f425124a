"""A seeded synthetic RGB / near-infrared / thermal person re-identification
set in the RGBNT201 layout.

Every identity is a walking figure with its own appearance in each
modality:

* **RGB**: colours of the upper and lower clothing (12-colour palette), a
  pattern on the upper clothing (plain, horizontal or vertical stripes,
  checks) of its own colour and period, sleeve length, skin and hair
  colour, hair length, a bag (none, shoulder bag, backpack).
* **NI** (near infrared): the reflectance of each garment and of the bag,
  drawn independently of its visible colour (dyes differ in the infrared),
  and whether the upper pattern shows, vanishes or is replaced by a weave
  only the infrared camera sees; almost no colour (grey images).
* **TI** (thermal): body heat seen through the clothing,
  ``T = T_ambient + (T_body - T_ambient) (1 - insulation)`` per garment,
  hot skin, a cool bag; blurred like a thermal sensor, blind to light.

Identity ``2k+1`` is, with probability 1/2, an RGB twin of identity ``2k``:
the same clothes, bag, hair and skin (only the build differs), but its own
NI and TI attributes, so RGB alone cannot tell the two apart.

What changes between images of one identity, so that a global feature is
confused and the figure's tokens are what to look at: the camera's
background (brick wall, foliage, road, indoor panels: each camera its own
colours, infrared reflectance and temperature), clutter objects in the
clothing palette (some warm in TI), partial occluders in front of the
figure (poles, boxes), the light (gain, colour cast, gradient, shadow band;
RGB and NI only), the pose (walking phase, facing side, position, size)
and sensor noise.

Layout written under ``root`` (images 64 wide, 128 high, JPEG)::

    train_171/{RGB,NI,TI}/PPPPPP_camC_KKKK.jpg   training identities
    test/{RGB,NI,TI}/PPPPPP_camC_KKKK.jpg        query = gallery identities
    demo_rgbnt201.json                            options and identity lists

Person ids are six-digit numbers drawn from 1..999 (not contiguous, so
relabelling is exercised); every identity is seen by 2 to ``num_cameras``
cameras (``C`` counts from 1), ``images_per_camera`` images each. Every
identity and every image has its own random stream, so the same arguments
give byte-identical files. :data:`DEMO_RGBNT201` describes the set for
:mod:`featsel.datasets.demo_data` (the JSON file is written last and marks a
complete set).
"""
import json
import os
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Tuple

import cv2
import numpy as np

from ..demo_data import DemoSet, write_demo_set

HEIGHT, WIDTH = 128, 64
MODALITIES = ('RGB', 'NI', 'TI')
SPLIT_DIRS = dict(train='train_171', test='test')
SENTINEL = 'demo_rgbnt201.json'
JPEG_QUALITY = 85

# Part labels of the figure map.
BG, SKIN, HAIR, UPPER, LOWER, SHOES, BAG = range(7)
NUM_PARTS = 7

#: Clothing, bag, clutter and occluder colours (RGB in [0, 1]).
PALETTE = np.array(
    [[0.80, 0.12, 0.12], [0.10, 0.25, 0.70], [0.12, 0.55, 0.20],
     [0.92, 0.80, 0.15], [0.95, 0.95, 0.92], [0.10, 0.10, 0.12],
     [0.50, 0.50, 0.52], [0.55, 0.30, 0.12], [0.95, 0.50, 0.10],
     [0.45, 0.15, 0.55], [0.40, 0.70, 0.90], [0.90, 0.55, 0.65]],
    np.float32)
SKIN_TONES = np.array([[0.96, 0.80, 0.69], [0.87, 0.67, 0.52],
                       [0.65, 0.45, 0.32], [0.42, 0.28, 0.20]], np.float32)
# Hair colours and their near-infrared reflectance (dark hair is brighter
# in the infrared than in the visible).
HAIR_COLOURS = np.array([[0.08, 0.06, 0.05], [0.35, 0.22, 0.12],
                         [0.80, 0.68, 0.40], [0.65, 0.65, 0.65]], np.float32)
HAIR_NIR = np.array([0.35, 0.45, 0.65, 0.6], np.float32)
PATTERNS = ('plain', 'hstripes', 'vstripes', 'checks')
NIR_PATTERNS = ('same', 'hidden', 'weave')
BACKGROUNDS = ('brick', 'foliage', 'road', 'indoor')
SKIN_NIR = 0.62
SHOES_NIR = 0.2


@dataclass(frozen=True)
class Identity:
    """What makes one identity, in every modality.

    ``rgb`` / ``nir`` / ``tir_insulation`` are indexed by part label
    (``BG .. BAG``); ``tir_insulation`` is 0 for parts that are not
    clothing.
    """

    rgb: np.ndarray             # (NUM_PARTS, 3) colours
    pattern: str                # one of PATTERNS
    pattern_rgb: np.ndarray     # (3,) colour of the upper pattern
    pattern_nir: str            # one of NIR_PATTERNS
    pattern_reflectance: float  # NI reflectance of the upper pattern
    period: float               # pattern period in pixels
    long_sleeves: bool
    long_hair: bool
    bag: str                    # 'none' | 'shoulder' | 'backpack'
    build: float                # width factor
    nir: np.ndarray             # (NUM_PARTS,) reflectance
    insulation: np.ndarray      # (NUM_PARTS,) 0 (bare) .. 1 (no heat out)
    body_temperature: float


@dataclass(frozen=True)
class CameraStyle:
    """Background of one camera in every modality."""

    kind: str                   # one of BACKGROUNDS
    base: np.ndarray            # (3,) RGB
    accent: np.ndarray          # (3,) RGB
    nir_base: float
    ambient: float              # TI temperature of the scene


def _rgb_look(rng: np.random.Generator) -> dict:
    """The visible attributes of an identity."""
    upper, lower, pattern_colour = rng.choice(len(PALETTE), 3, replace=False)
    return dict(
        upper=PALETTE[upper], lower=PALETTE[lower],
        shoes=PALETTE[rng.choice([5, 6, 7, 4])],
        skin=SKIN_TONES[rng.integers(len(SKIN_TONES))],
        hair=int(rng.integers(len(HAIR_COLOURS))),
        pattern=PATTERNS[rng.integers(len(PATTERNS))],
        pattern_rgb=PALETTE[pattern_colour],
        period=float(rng.uniform(4, 9)),
        long_sleeves=bool(rng.random() < 0.5),
        long_hair=bool(rng.random() < 0.4),
        bag=('none', 'shoulder', 'backpack')[rng.integers(3)],
        bag_rgb=PALETTE[rng.integers(len(PALETTE))])


def make_identity(rng: np.random.Generator, look: dict) -> Identity:
    """Draw the infrared and thermal attributes and the build of an
    identity that looks like ``look`` in RGB.

    Args:
        rng (np.random.Generator): The identity's random stream.
        look (dict): Visible attributes (:func:`_rgb_look`).

    Returns:
        Identity: The identity.
    """
    rgb = np.zeros((NUM_PARTS, 3), np.float32)
    rgb[SKIN], rgb[HAIR] = look['skin'], HAIR_COLOURS[look['hair']]
    rgb[UPPER], rgb[LOWER] = look['upper'], look['lower']
    rgb[SHOES] = look['shoes']
    rgb[BAG] = look['bag_rgb']
    nir = np.zeros(NUM_PARTS, np.float32)
    nir[SKIN], nir[HAIR], nir[SHOES] = SKIN_NIR, HAIR_NIR[look['hair']], \
        SHOES_NIR
    nir[UPPER], nir[LOWER], nir[BAG] = rng.uniform(0.12, 0.92, 3)
    insulation = np.zeros(NUM_PARTS, np.float32)
    insulation[HAIR] = 0.5
    insulation[UPPER], insulation[LOWER] = rng.uniform(0.1, 0.85, 2)
    insulation[SHOES], insulation[BAG] = 0.85, 0.95
    return Identity(
        rgb=rgb, pattern=look['pattern'], pattern_rgb=look['pattern_rgb'],
        pattern_nir=NIR_PATTERNS[rng.integers(len(NIR_PATTERNS))],
        pattern_reflectance=float(rng.uniform(0.1, 0.95)),
        period=look['period'], long_sleeves=look['long_sleeves'],
        long_hair=look['long_hair'], bag=look['bag'],
        build=float(rng.uniform(0.85, 1.15)), nir=nir, insulation=insulation,
        body_temperature=float(rng.uniform(0.84, 0.94)))


def make_camera(rng: np.random.Generator, index: int) -> CameraStyle:
    """The background style of camera ``index`` (kinds cycle)."""
    kind = BACKGROUNDS[index % len(BACKGROUNDS)]
    nir_base = dict(brick=0.45, foliage=0.8, road=0.25, indoor=0.5)[kind]
    return CameraStyle(
        kind=kind,
        base=rng.uniform(0.25, 0.75, 3).astype(np.float32),
        accent=rng.uniform(0.1, 0.9, 3).astype(np.float32),
        nir_base=nir_base + float(rng.uniform(-0.1, 0.1)),
        ambient=float(rng.uniform(0.2, 0.45)))


def _smooth_noise(rng: np.random.Generator, cells: Tuple[int, int]) -> \
        np.ndarray:
    """(HEIGHT, WIDTH) band-limited noise in about [-1, 1]."""
    grid = rng.standard_normal(cells).astype(np.float32)
    noise = cv2.resize(grid, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)
    return noise / (np.abs(noise).max() + 1e-6)


def _background(style: CameraStyle, rng: np.random.Generator,
                yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """(HEIGHT, WIDTH) material map in [0, 1]: 0 = base, 1 = accent."""
    oy, ox = rng.uniform(0, 16, 2)
    noise = _smooth_noise(rng, (8, 4))
    if style.kind == 'brick':
        row = np.floor((yy + oy) / 8)
        mortar = ((yy + oy) % 8 < 1.2) | ((xx + ox + 7 * (row % 2)) % 14 < 1.2)
        t = 0.15 + 0.1 * noise + 0.75 * mortar
    elif style.kind == 'foliage':
        t = (_smooth_noise(rng, (24, 12)) > 0.1) * 0.8 + 0.2 * noise
    elif style.kind == 'road':
        lane = (np.abs(xx - 20 - ox) < 1.5) & ((yy + 4 * oy) % 24 < 12)
        t = 0.1 + 0.25 * (yy / HEIGHT) + 0.1 * noise + 0.6 * lane
    else:
        floor = yy > 0.78 * HEIGHT
        panel = (xx + ox) % 16 < 1.5
        t = 0.2 + 0.55 * floor + 0.35 * (panel & ~floor) + 0.1 * noise
    return np.clip(t, 0, 1).astype(np.float32)


def _poly(points: np.ndarray) -> np.ndarray:
    """Points (k, 2) in pixels -> int32 with 4 fractional bits for cv2."""
    return np.round(points * 16).astype(np.int32)


def _limb(start: np.ndarray, angle: float, length: float, width: float,
          begin: float = 0.0, end: float = 1.0) -> np.ndarray:
    """Corners (4, 2) of the part ``[begin, end]`` of a limb from
    ``start`` (x, y) pointing ``angle`` radians away from straight down."""
    d = np.array([np.sin(angle), np.cos(angle)], np.float32)
    n = np.array([d[1], -d[0]], np.float32) * width / 2
    a, b = start + d * length * begin, start + d * length * end
    return np.stack([a + n, b + n, b - n, a - n])


def draw_figure(ident: Identity, rng: np.random.Generator) -> \
        Tuple[np.ndarray, float, float, float]:
    """Draw the figure in a random pose as a part-label map.

    Args:
        ident (Identity): The identity.
        rng (np.random.Generator): The image's random stream.

    Returns:
        tuple: ``parts`` (HEIGHT, WIDTH) uint8 labels ``BG .. BAG``, the
        figure's centre x, shoulder y and half shoulder width in pixels.
    """
    parts = np.zeros((HEIGHT, WIDTH), np.uint8)
    hp = HEIGHT * rng.uniform(0.78, 0.97)
    top = (HEIGHT - hp) * rng.uniform(0.2, 0.9)
    cx = WIDTH / 2 + float(np.clip(rng.normal(0, 3), -7, 7))
    facing = 1.0 if rng.random() < 0.5 else -1.0
    swing = np.sin(rng.uniform(0, 2 * np.pi))
    b = ident.build
    shoulder_y, hip_y = top + 0.17 * hp, top + 0.52 * hp
    sw, hw = 0.12 * hp * b, 0.10 * hp * b
    fill = cv2.fillConvexPoly

    def arm(side: float, angle: float) -> None:
        start = np.array([cx + side * sw * 0.92, shoulder_y + 0.02 * hp])
        limb = (start, angle, 0.33 * hp, 0.055 * hp * b)
        fill(parts, _poly(_limb(*limb)), SKIN, cv2.LINE_8, 4)
        sleeve = 0.88 if ident.long_sleeves else 0.4
        fill(parts, _poly(_limb(*limb, 0.0, sleeve)), UPPER, cv2.LINE_8, 4)

    def leg(side: float, angle: float) -> None:
        start = np.array([cx + side * 0.045 * hp * b, hip_y - 0.02 * hp])
        limb = (start, angle, 0.46 * hp, 0.075 * hp * b)
        fill(parts, _poly(_limb(*limb, 0.0, 0.9)), LOWER, cv2.LINE_8, 4)
        fill(parts, _poly(_limb(start, angle, 0.46 * hp, 0.09 * hp * b, 0.88,
                                1.0)), SHOES, cv2.LINE_8, 4)

    back, front = -facing, facing
    arm(back, back * 0.12 - 0.4 * swing)
    leg(back, 0.3 * swing)
    if ident.bag == 'backpack':
        corner = cx + back * (sw + 0.02 * hp)
        pack = np.array([[corner, shoulder_y + 0.02 * hp],
                         [corner + back * 0.08 * hp, shoulder_y + 0.04 * hp],
                         [corner + back * 0.08 * hp, shoulder_y + 0.3 * hp],
                         [corner, shoulder_y + 0.32 * hp]])
        fill(parts, _poly(pack), BAG, cv2.LINE_8, 4)
    if ident.long_hair:
        hair = np.array([[cx - 0.075 * hp, top + 0.05 * hp],
                         [cx + 0.075 * hp, top + 0.05 * hp],
                         [cx + 0.07 * hp, shoulder_y + 0.04 * hp],
                         [cx - 0.07 * hp, shoulder_y + 0.04 * hp]])
        fill(parts, _poly(hair), HAIR, cv2.LINE_8, 4)
    torso = np.array([[cx - sw, shoulder_y], [cx + sw, shoulder_y],
                      [cx + hw, hip_y], [cx - hw, hip_y]])
    fill(parts, _poly(torso), UPPER, cv2.LINE_8, 4)
    leg(front, -0.3 * swing)
    arm(front, front * 0.12 + 0.4 * swing)
    if ident.bag == 'shoulder':
        x0 = cx + front * 0.9 * hw
        bag = np.array([[x0, hip_y - 0.1 * hp],
                        [x0 + front * 0.13 * hp, hip_y - 0.1 * hp],
                        [x0 + front * 0.13 * hp, hip_y + 0.04 * hp],
                        [x0, hip_y + 0.04 * hp]])
        fill(parts, _poly(bag), BAG, cv2.LINE_8, 4)
        strap = np.array([[cx - front * 0.6 * sw, shoulder_y],
                          [cx - front * 0.45 * sw, shoulder_y],
                          [x0 + front * 0.05 * hp, hip_y - 0.1 * hp],
                          [x0, hip_y - 0.1 * hp]])
        fill(parts, _poly(strap), BAG, cv2.LINE_8, 4)
    neck = np.array([[cx - 0.025 * hp, top + 0.1 * hp],
                     [cx + 0.025 * hp, top + 0.1 * hp],
                     [cx + 0.025 * hp, shoulder_y + 0.01 * hp],
                     [cx - 0.025 * hp, shoulder_y + 0.01 * hp]])
    fill(parts, _poly(neck), SKIN, cv2.LINE_8, 4)
    head = (int(round((cx + facing * 0.01 * hp) * 16)),
            int(round((top + 0.075 * hp) * 16)))
    axes = (int(round(0.058 * hp * 16)), int(round(0.072 * hp * 16)))
    cv2.ellipse(parts, head, axes, 0, 0, 360, SKIN, -1, cv2.LINE_8, 4)
    cv2.ellipse(parts, (head[0] - int(facing * 0.012 * hp * 16),
                        head[1] - int(0.025 * hp * 16)),
                (axes[0], int(axes[1] * 0.6)), 0, 180, 360, HAIR, -1,
                cv2.LINE_8, 4)
    return parts, cx, shoulder_y, sw


def _objects(rng: np.random.Generator, count: int, occluders: bool) -> \
        Tuple[np.ndarray, np.ndarray]:
    """Label map (HEIGHT, WIDTH) uint8 of ``count`` objects (0 = none,
    ``i`` = object ``i-1``) and their palette colour indices (count,).
    Clutter objects are ellipses and rectangles anywhere; occluders are
    poles (full height) or boxes standing on the bottom edge."""
    labels = np.zeros((HEIGHT, WIDTH), np.uint8)
    colours = rng.integers(len(PALETTE), size=count)
    for i in range(count):
        if occluders and rng.random() < 0.5:
            x = rng.uniform(4, WIDTH - 4)
            w = rng.uniform(4, 9)
            pts = np.array([[x - w / 2, 0], [x + w / 2, 0],
                            [x + w / 2, HEIGHT], [x - w / 2, HEIGHT]])
        elif occluders:
            y0 = rng.uniform(0.62, 0.85) * HEIGHT
            x0 = rng.uniform(-10, WIDTH - 10)
            pts = np.array([[x0, y0], [x0 + rng.uniform(20, 50), y0],
                            [x0 + rng.uniform(20, 50), HEIGHT], [x0, HEIGHT]])
        else:
            c = rng.uniform([0, 0], [WIDTH, HEIGHT])
            a = rng.uniform(3, 12, 2)
            if rng.random() < 0.5:
                cv2.ellipse(labels, tuple(int(v) for v in c * 16),
                            tuple(int(v) for v in a * 16),
                            float(rng.uniform(0, 180)), 0, 360, i + 1, -1,
                            cv2.LINE_8, 4)
                continue
            pts = np.array([c - a, [c[0] + a[0], c[1] - a[1]], c + a,
                            [c[0] - a[0], c[1] + a[1]]])
        cv2.fillConvexPoly(labels, _poly(pts), i + 1, cv2.LINE_8, 4)
    return labels, colours


def render_sample(ident: Identity, style: CameraStyle,
                  rng: np.random.Generator) -> \
        Tuple[Dict[str, np.ndarray], np.ndarray]:
    """Render one aligned RGB / NI / TI sample of ``ident`` seen by a
    camera of ``style``.

    Args:
        ident (Identity): The identity.
        style (CameraStyle): The camera.
        rng (np.random.Generator): The image's random stream.

    Returns:
        tuple: ``images`` (modality -> (HEIGHT, WIDTH, 3) uint8 RGB) and
        the visible figure mask (HEIGHT, WIDTH) bool (figure pixels not
        hidden by an occluder).
    """
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    # background, then clutter, figure and occluders in front of it
    t = _background(style, rng, yy, xx)
    rgb = style.base * (1 - t[..., None]) + style.accent * t[..., None]
    nir = style.nir_base + 0.3 * (t - 0.5)
    tir = style.ambient + 0.06 * t
    layers = [(_objects(rng, int(rng.integers(3, 8)), False), 0.35)]
    parts, cx, shoulder_y, sw = draw_figure(ident, rng)
    layers_after = [(_objects(rng, 1, True), 0.3)] \
        if rng.random() < 0.45 else []

    def paint(objects: Tuple[np.ndarray, np.ndarray], p_warm: float) -> None:
        labels, colours = objects
        n = len(colours)
        lut_rgb = np.concatenate([np.zeros((1, 3)), PALETTE[colours]])
        lut_nir = np.concatenate([[0], rng.uniform(0.1, 0.9, n)])
        warm = rng.random(n) < p_warm
        lut_tir = np.concatenate([[0], np.where(
            warm, rng.uniform(0.6, 0.9, n),
            style.ambient + rng.uniform(-0.05, 0.08, n))])
        on = labels > 0
        rgb[on] = lut_rgb[labels[on]]
        nir[on] = lut_nir[labels[on]]
        tir[on] = lut_tir[labels[on]]

    for objects, p_warm in layers:
        paint(objects, p_warm)
    # the figure: colour, pattern and shading per part
    person = parts > BG
    upper = parts == UPPER
    v, h = (yy - shoulder_y) / ident.period, (xx - cx) / ident.period
    stripes = dict(
        plain=np.zeros_like(upper), hstripes=np.floor(v) % 2 == 0,
        vstripes=np.floor(h + 0.5) % 2 == 0,
        checks=(np.floor(v) % 2 == 0) ^ (np.floor(h + 0.5) % 2 == 0))[
            ident.pattern] & upper
    shade = 1 - 0.35 * np.clip(np.abs(xx - cx) / (1.4 * sw), 0, 1)**2
    fig_rgb = ident.rgb[parts] * shade[..., None]
    fig_rgb[stripes] = ident.pattern_rgb * shade[stripes][:, None]
    fig_nir = ident.nir[parts] * shade
    if ident.pattern_nir == 'same':
        fig_nir[stripes] = ident.pattern_reflectance * shade[stripes]
    elif ident.pattern_nir == 'weave':
        weave = upper & ((np.floor((xx + yy) / 3) % 2) == 0)
        fig_nir[weave] = ident.pattern_reflectance * shade[weave]
    ins = ident.insulation[parts]
    fig_tir = style.ambient + (ident.body_temperature - style.ambient) * (
        1 - ins)
    rgb[person], nir[person], tir[person] = \
        fig_rgb[person], fig_nir[person], fig_tir[person]
    visible = person.copy()
    for objects, p_warm in layers_after:
        paint(objects, p_warm)
        visible &= objects[0] == 0
    # light (RGB and NI), thermal blur, sensor noise
    gain = rng.uniform(0.55, 1.35) * rng.uniform(0.85, 1.15, 3)
    slope = rng.uniform(-0.5, 0.5, 2)
    light = 1 + slope[0] * (xx / WIDTH - 0.5) + slope[1] * (yy / HEIGHT - 0.5)
    if rng.random() < 0.3:
        a = rng.uniform(-1, 1)
        band = np.abs(yy - a * (xx - WIDTH / 2) - rng.uniform(20, 110)) < \
            rng.uniform(8, 20)
        light = light * np.where(band, 0.55, 1.0)
    rgb = rgb * light[..., None] * gain
    r2 = ((xx - WIDTH / 2) / WIDTH)**2 + ((yy - HEIGHT / 2) / HEIGHT)**2
    nir = nir * rng.uniform(0.7, 1.2) * (1 - 0.8 * r2) * (0.7 + 0.3 * light)
    tir = cv2.GaussianBlur(tir.astype(np.float32), (0, 0), 1.2) + \
        rng.uniform(-0.06, 0.06)
    rgb = rgb + rng.normal(0, 0.02, rgb.shape)
    nir = nir + rng.normal(0, 0.03, nir.shape)
    tir = tir + rng.normal(0, 0.015, tir.shape)

    def to_uint8(img: np.ndarray) -> np.ndarray:
        return np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)

    grey = (to_uint8(nir)[..., None].repeat(3, 2),
            to_uint8(tir)[..., None].repeat(3, 2))
    return dict(RGB=to_uint8(rgb), NI=grey[0], TI=grey[1]), visible


def make_identities(num_ids: int, seed: int) -> List[Identity]:
    """Identities ``0..num_ids-1``; in each pair ``(2k, 2k+1)`` the second
    looks like the first in RGB with probability 1/2."""
    identities = []
    for j in range(num_ids):
        rng = np.random.default_rng([seed, 0, j])
        look = _rgb_look(rng)
        if j % 2 == 1 and rng.random() < 0.5:
            look = _rgb_look(np.random.default_rng([seed, 0, j - 1]))
        identities.append(make_identity(rng, look))
    return identities


def make_demo_rgbnt201(root: str,
                       num_train_ids: int = 40,
                       num_test_ids: int = 24,
                       num_cameras: int = 3,
                       images_per_camera: int = 3,
                       seed: int = 0) -> Dict[str, List[int]]:
    """Write the demo set into the existing folder ``root``.

    Prefer :func:`write_demo_rgbnt201` (atomic); this is the
    :class:`~featsel.datasets.demo_data.DemoSet` build function.

    Args:
        root (str): Output folder.
        num_train_ids (int): Training identities. Defaults to 40.
        num_test_ids (int): Test identities (query = gallery). Defaults to
            24.
        num_cameras (int): Cameras, at least 2. Defaults to 3.
        images_per_camera (int): Images per identity and camera. Defaults
            to 3.
        seed (int): Random seed. Defaults to 0.

    Returns:
        dict[str, list[int]]: Person ids per split.

    Raises:
        ValueError: For fewer than 2 cameras, fewer than 1 identity per
            split or image per camera, or more than 999 identities.
    """
    num_ids = num_train_ids + num_test_ids
    if num_cameras < 2 or min(num_train_ids, num_test_ids,
                              images_per_camera) < 1 or num_ids > 999:
        raise ValueError(
            'need num_cameras >= 2, num_train_ids, num_test_ids and '
            'images_per_camera >= 1 and at most 999 identities; got '
            f'{num_cameras}, {num_train_ids}, {num_test_ids}, '
            f'{images_per_camera}')
    # a prefix of one permutation: the training ids do not depend on the
    # number of test ids
    pids = np.random.default_rng([seed, 3]).permutation(999)[:num_ids] + 1
    cameras = [
        make_camera(np.random.default_rng([seed, 2, c]), c)
        for c in range(num_cameras)
    ]
    for split in SPLIT_DIRS.values():
        for m in MODALITIES:
            os.makedirs(osp.join(root, split, m), exist_ok=True)
    written: Dict[str, List[int]] = dict(train=[], test=[])
    for j, ident in enumerate(make_identities(num_ids, seed)):
        split = 'train' if j < num_train_ids else 'test'
        written[split].append(int(pids[j]))
        rng = np.random.default_rng([seed, 4, j])
        seen = np.sort(rng.choice(
            num_cameras, int(rng.integers(2, num_cameras + 1)),
            replace=False))
        for c in seen:
            for k in range(images_per_camera):
                images, _ = render_sample(
                    ident, cameras[c], np.random.default_rng([seed, 1, j, c,
                                                              k]))
                name = f'{pids[j]:06d}_cam{c + 1}_{k:04d}.jpg'
                for m in MODALITIES:
                    cv2.imwrite(
                        osp.join(root, SPLIT_DIRS[split], m, name),
                        cv2.cvtColor(images[m], cv2.COLOR_RGB2BGR),
                        [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    info = dict(
        num_train_ids=num_train_ids, num_test_ids=num_test_ids,
        num_cameras=num_cameras, images_per_camera=images_per_camera,
        seed=seed, pids={k: sorted(v) for k, v in written.items()})
    with open(osp.join(root, SENTINEL), 'w') as f:
        json.dump(info, f, indent=1)
    return written


#: The demo RGBNT201 set for :mod:`featsel.datasets.demo_data`.
DEMO_RGBNT201 = DemoSet(
    name='demo RGBNT201 set',
    default_root='data/demo_rgbnt201',
    sentinel=SENTINEL,
    build=make_demo_rgbnt201,
    options=('num_train_ids', 'num_test_ids', 'num_cameras',
             'images_per_camera', 'seed'),
    command='python tools/misc/make_demo_data.py --set rgbnt201 '
    '--out {root}')


def write_demo_rgbnt201(root: str, overwrite: bool = False,
                        **options) -> str:
    """Write the demo set under ``root`` atomically (see
    :func:`featsel.datasets.demo_data.write_demo_set`).

    Args:
        root (str): Output folder.
        overwrite (bool): Replace a set already there. Defaults to False.
        **options: Arguments of :func:`make_demo_rgbnt201`.

    Returns:
        str: ``root``.
    """
    return write_demo_set(DEMO_RGBNT201, root, overwrite=overwrite,
                          **options)
