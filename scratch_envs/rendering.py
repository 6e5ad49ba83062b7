"""Pictures of the cart-pole: a NumPy rasterizer for render_mode="rgb_array", and a pygame window for "human".

``draw_cartpole`` needs nothing but NumPy, so ``rgb_array`` works headless with no extra
install. Only the window needs pygame, installed by the ``human`` extra.
"""

from __future__ import annotations

import numpy as np
from gymnasium.error import DependencyNotInstalled

WIDTH, HEIGHT = 600, 400
SCALE = WIDTH / (2 * 2.4)  # pixels per metre: the track (+-2.4 m) spans the picture
CART_W, CART_H = 50.0, 30.0
POLE_W, POLE_LEN = 10.0, SCALE * 1.0  # the pole is 2 * 0.5 m long
CART_TOP = 100.0  # height of the track line above the bottom edge, in pixels
AXLE = CART_TOP + CART_H / 4.0

WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
POLE_COLOUR = (202, 152, 101)
AXLE_COLOUR = (129, 132, 203)

# Pixel-centre coordinates with y pointing up (row 0 is the top of the picture).
_PX = np.arange(WIDTH, dtype=np.float64) + 0.5
_PY = HEIGHT - (np.arange(HEIGHT, dtype=np.float64) + 0.5)


def _fill_convex(img: np.ndarray, corners: np.ndarray, colour: tuple[int, int, int]) -> None:
    """Fill the convex polygon with counter-clockwise ``corners`` (k, 2), in y-up pixel coordinates."""
    x0, y0 = np.floor(corners.min(axis=0)).astype(int)
    x1, y1 = np.ceil(corners.max(axis=0)).astype(int)
    c0, c1 = max(x0, 0), min(x1, WIDTH)
    r0, r1 = max(HEIGHT - y1, 0), min(HEIGHT - y0, HEIGHT)
    if c0 >= c1 or r0 >= r1:
        return
    px = _PX[None, c0:c1]
    py = _PY[r0:r1, None]
    inside = np.ones((r1 - r0, c1 - c0), dtype=bool)
    for (ax, ay), (bx, by) in zip(corners, np.roll(corners, -1, axis=0), strict=True):
        inside &= (bx - ax) * (py - ay) - (by - ay) * (px - ax) >= 0  # left of edge a->b
    img[r0:r1, c0:c1][inside] = colour


def _fill_disc(img: np.ndarray, cx: float, cy: float, radius: float, colour: tuple[int, int, int]) -> None:
    corners = np.array([[cx - radius, cy - radius], [cx + radius, cy + radius]])
    x0, y0 = np.floor(corners[0]).astype(int)
    x1, y1 = np.ceil(corners[1]).astype(int)
    c0, c1 = max(x0, 0), min(x1, WIDTH)
    r0, r1 = max(HEIGHT - y1, 0), min(HEIGHT - y0, HEIGHT)
    if c0 >= c1 or r0 >= r1:
        return
    inside = (_PX[None, c0:c1] - cx) ** 2 + (_PY[r0:r1, None] - cy) ** 2 <= radius**2
    img[r0:r1, c0:c1][inside] = colour


def draw_cartpole(x: float, theta: float) -> np.ndarray:
    """An HEIGHT x WIDTH x 3 uint8 picture of the cart at position ``x`` (m) with the pole at ``theta`` (rad)."""
    img = np.full((HEIGHT, WIDTH, 3), WHITE, dtype=np.uint8)
    img[HEIGHT - int(CART_TOP) - 1, :] = BLACK  # the track

    cart_x = x * SCALE + WIDTH / 2.0
    cart = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * [CART_W / 2, CART_H / 2] + [cart_x, CART_TOP]
    _fill_convex(img, cart, BLACK)

    # The pole: a rectangle from the axle upwards, rotated clockwise by theta.
    pole = np.array(
        [
            [-POLE_W / 2, -POLE_W / 2],
            [POLE_W / 2, -POLE_W / 2],
            [POLE_W / 2, POLE_LEN - POLE_W / 2],
            [-POLE_W / 2, POLE_LEN - POLE_W / 2],
        ]
    )
    c, s = np.cos(theta), np.sin(theta)
    rotation = np.array([[c, s], [-s, c]])  # clockwise: positive theta leans right
    _fill_convex(img, pole @ rotation.T + [cart_x, AXLE], POLE_COLOUR)

    _fill_disc(img, cart_x, AXLE, POLE_W / 2, AXLE_COLOUR)
    return img


class Window:
    """A pygame window showing frames at ``fps``. Created with render_mode="human"."""

    def __init__(self, fps: int):
        try:
            import pygame
        except ImportError as e:
            raise DependencyNotInstalled(
                'render_mode="human" opens a window with pygame, which is not installed. '
                'Install it with: pip install "sb3-scratch-ppo[human]" (or use render_mode="rgb_array", '
                "which needs nothing more)."
            ) from e
        self._pygame = pygame
        self._fps = fps
        self._screen = None
        self._clock = None

    def show(self, frame: np.ndarray) -> None:
        pygame = self._pygame
        if self._screen is None:
            pygame.display.init()
            pygame.display.set_caption("ScratchCartPole")
            self._screen = pygame.display.set_mode((frame.shape[1], frame.shape[0]))
            self._clock = pygame.time.Clock()
        pygame.surfarray.blit_array(self._screen, frame.transpose(1, 0, 2))
        pygame.event.pump()
        pygame.display.flip()
        self._clock.tick(self._fps)

    def close(self) -> None:
        if self._screen is not None:
            self._pygame.display.quit()
            self._screen = None
