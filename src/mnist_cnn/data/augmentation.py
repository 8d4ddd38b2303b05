"""Random distortions of training batches, every draw a pure function of a per-batch seed.

The pipeline derives that seed from (seed, epoch, batch), so a rerun sees the same distorted
images and a resumed run sees exactly what an uninterrupted one would have. Only TensorFlow's
stateless random ops are used: Keras' augmentation layers draw from a SeedGenerator whose state
advances with every call (and is not in checkpoints), and its elastic_transform op reuses one seed
for both displacement axes.

Rotation, zoom, shear, shift and the elastic field are composed into one sampling grid, so each
image is interpolated once (chaining RandomRotation, RandomZoom, ... would blur it four times).
Stroke thickness, blur and low resolution follow, on the warped image, in the order a pen, a lens
and a scanner would apply them.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from mnist_cnn.config import Augmentation

SIDE = 28
CENTRE = (SIDE - 1) / 2.0  # pixel-centre coordinates: rotation and zoom pivot on the image centre
# Independent streams split off the batch seed, one per kind of draw.
# New streams go at the end: stateless_split gives the first ones the same values whatever the count,
# so runs made before a stream was added resume with the draws they started with.
STREAMS = ("apply", "rotation", "zoom", "shear", "shift", "elastic", "thickness", "blur", "resolution")


def augment_batch(images, seed, aug: Augmentation):
    """Distort a float32 batch (B, 28, 28, 1) in [0, 1]; `seed` is a shape-(2,) int tensor."""
    import tensorflow as tf

    seeds = dict(zip(STREAMS, tf.unstack(tf.random.experimental.stateless_split(seed, len(STREAMS))), strict=True))
    count = tf.shape(images)[0]

    def draw(stream: str, amount: float, shape=None):
        shape = [count] if shape is None else shape
        return tf.random.stateless_uniform(shape, seeds[stream], -amount, amount)

    x = images[..., 0]
    if aug.rotation or aug.zoom or aug.shear or aug.shift or aug.elastic:
        rows, cols = _source_grid(count, aug, draw)
        x = bilinear_sample(x, rows, cols)
    if aug.thickness:
        x = change_thickness(x, draw("thickness", aug.thickness), second_pass=aug.thickness > 1)
    if aug.blur:
        x = gaussian_blur(x, tf.abs(draw("blur", aug.blur)))
    if aug.resolution:
        smallest = int(math.ceil(aug.resolution))
        sides = tf.random.stateless_uniform([count], seeds["resolution"], smallest, SIDE + 1, tf.int32)
        x = lower_resolution(x, sides)
    x = tf.clip_by_value(x, 0.0, 1.0)
    if aug.probability < 1.0:
        keep = tf.random.stateless_uniform([count], seeds["apply"]) >= aug.probability
        x = tf.where(keep[:, None, None], images[..., 0], x)
    return x[..., None]


def _source_grid(count, aug: Augmentation, draw):
    """For every output pixel, where to read the input: inverse affine map plus elastic field."""
    import tensorflow as tf

    angle = draw("rotation", math.radians(aug.rotation))
    shear = draw("shear", math.radians(aug.shear))
    scale = 1.0 + draw("zoom", aug.zoom)
    shift = draw("shift", aug.shift, [count, 2])
    # Forward map (row, col offsets from the centre): x' = scale * R(angle) @ Shear(shear) @ x + shift.
    cos, sin, tan = tf.cos(angle), tf.sin(angle), tf.tan(shear)
    a, b = cos, cos * tan - sin
    c, d = sin, sin * tan + cos
    det = (a * d - b * c) * scale
    inv = [d / det, -b / det, -c / det, a / det]  # inverse of scale * [[a, b], [c, d]]
    grid = tf.range(SIDE, dtype=tf.float32) - CENTRE
    out_r, out_c = grid[None, :, None], grid[None, None, :]
    r = out_r - shift[:, 0, None, None]
    k = out_c - shift[:, 1, None, None]
    rows = inv[0][:, None, None] * r + inv[1][:, None, None] * k + CENTRE
    cols = inv[2][:, None, None] * r + inv[3][:, None, None] * k + CENTRE
    if aug.elastic:
        field = draw("elastic", 1.0, [2 * count, SIDE, SIDE])  # row and column displacements
        g = gaussian_matrices(tf.fill([1], aug.elastic.sigma))
        field = tf.matmul(tf.matmul(g, field), g, transpose_b=True) * aug.elastic.alpha
        rows, cols = rows + field[:count], cols + field[count:]
    return rows, cols


def bilinear_sample(x, rows, cols):
    """Read (B, H, W) images at fractional (rows, cols) of the same shape; outside is black."""
    import tensorflow as tf

    # A one-pixel black frame plus clipping makes every read in range and everything outside 0.
    padded = tf.pad(x, [[0, 0], [1, 1], [1, 1]])
    side = SIDE + 2
    flat = tf.reshape(padded, [tf.shape(x)[0], side * side])
    rows = tf.clip_by_value(rows + 1.0, 0.0, side - 1.0)
    cols = tf.clip_by_value(cols + 1.0, 0.0, side - 1.0)
    r0, c0 = tf.floor(rows), tf.floor(cols)
    fr, fc = rows - r0, cols - c0
    r0, c0 = tf.cast(r0, tf.int32), tf.cast(c0, tf.int32)
    r1, c1 = tf.minimum(r0 + 1, side - 1), tf.minimum(c0 + 1, side - 1)

    def at(r, c):
        index = tf.reshape(r * side + c, [tf.shape(x)[0], -1])
        return tf.reshape(tf.gather(flat, index, batch_dims=1), tf.shape(rows))

    top = at(r0, c0) * (1 - fc) + at(r0, c1) * fc
    bottom = at(r1, c0) * (1 - fc) + at(r1, c1) * fc
    return top * (1 - fr) + bottom * fr


def change_thickness(x, amount, second_pass: bool = False):
    """Blend each image toward its 3×3 dilation (amount > 0) or erosion (amount < 0).

    With `second_pass`, amounts beyond ±1 continue toward a second 3×3 pass: 1.5 is halfway
    between one dilation and two (without it, only amounts within ±1 are meaningful).
    """
    import tensorflow as tf

    amount = amount[:, None, None]
    dilated, eroded = _max3x3(x), -_max3x3(-x)
    thicker = tf.minimum(tf.nn.relu(amount), 1.0) * (dilated - x)
    thinner = tf.minimum(tf.nn.relu(-amount), 1.0) * (eroded - x)
    if second_pass:
        thicker += tf.nn.relu(amount - 1.0) * (_max3x3(dilated) - dilated)
        thinner += tf.nn.relu(-amount - 1.0) * (-_max3x3(-eroded) - eroded)
    return x + thicker + thinner


def _max3x3(x):
    """3×3 grey dilation of (B, H, W), separably; the border counts as -inf (same as SAME max-pooling).

    Shifted slices: TensorFlow's max_pool2d on 28×28 single-channel batches cost 4× more.
    """
    import tensorflow as tf

    low = tf.float32.min
    padded = tf.pad(x, [[0, 0], [1, 1], [0, 0]], constant_values=low)
    x = tf.maximum(tf.maximum(padded[:, :-2], padded[:, 1:-1]), padded[:, 2:])
    padded = tf.pad(x, [[0, 0], [0, 0], [1, 1]], constant_values=low)
    return tf.maximum(tf.maximum(padded[:, :, :-2], padded[:, :, 1:-1]), padded[:, :, 2:])


def gaussian_matrices(sigmas):
    """(B, 28, 28) matrices G with G @ image @ G.T = a zero-padded Gaussian blur; sigma 0 is the identity.

    As matrix products, blurs of 28×28 images cost a fraction of a depthwise convolution here.
    """
    import tensorflow as tf

    grid = tf.range(SIDE, dtype=tf.float32)
    distance = grid[:, None] - grid[None, :]
    sigmas = tf.maximum(tf.cast(sigmas, tf.float32), 1e-3)[:, None, None]
    weights = tf.exp(-0.5 * tf.square(distance[None] / sigmas))
    weights = tf.where(tf.abs(distance)[None] <= tf.math.ceil(3 * sigmas), weights, 0.0)
    # Normalised over the full kernel, as a convolution with zero padding would be.
    radius = tf.math.ceil(3 * sigmas)
    taps = tf.range(-3 * SIDE, 3 * SIDE + 1, dtype=tf.float32)[None, None, :]
    total = tf.reduce_sum(tf.where(tf.abs(taps) <= radius, tf.exp(-0.5 * tf.square(taps / sigmas)), 0.0), -1)
    return weights / total[..., None]


def gaussian_blur(x, sigmas):
    """Blur each image of (B, H, W) with its own sigma."""
    import tensorflow as tf

    g = gaussian_matrices(sigmas)
    return tf.matmul(tf.matmul(g, x), g, transpose_b=True)


@functools.cache
def resolution_matrices() -> np.ndarray:
    """(28, 28, 28): entry s-1 is M with M @ image @ M.T = area-average down to s×s, bilinear back to 28×28.

    Both resizes are separable linear maps, so one matrix per side does the round trip; built once
    in numpy (28 small matrices) because tf.image.resize takes one size per call, not one per image.
    """
    matrices = np.zeros((SIDE, SIDE, SIDE), np.float64)
    for side in range(1, SIDE + 1):
        factor = SIDE / side
        down = np.zeros((side, SIDE))  # area average: the share of each source pixel in a target pixel
        for i in range(side):
            for j in range(SIDE):
                down[i, j] = max(0.0, min((i + 1) * factor, j + 1) - max(i * factor, j)) / factor
        up = np.zeros((SIDE, side))  # bilinear with pixel centres at half-integers, edges clamped
        for o in range(SIDE):
            position = min(max((o + 0.5) / factor - 0.5, 0.0), side - 1.0)
            low = int(math.floor(position))
            high = min(low + 1, side - 1)
            up[o, low] += 1.0 - (position - low)
            up[o, high] += position - low
        matrices[side - 1] = up @ down
    return matrices.astype(np.float32)


def lower_resolution(x, sides):
    """Reduce each image of (B, 28, 28) to its own side (int tensor, 1-28) and scale it back up."""
    import tensorflow as tf

    m = tf.gather(tf.constant(resolution_matrices()), sides - 1)
    return tf.matmul(tf.matmul(m, x), m, transpose_b=True)
