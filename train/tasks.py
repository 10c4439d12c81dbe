# Synthetic visual tasks, generated from a seed: pictures of coloured shapes and rendered text (numpy only), two-image
# comparisons and short clips. Each sample is a user turn (media + question) and the one correct answer.
import json

import numpy as np

IMG = 192          # single images and image pairs: 192×192 → 12×12 patches → 36 visual tokens each
VID = 128          # video frames: 128×128 → 8×8 patches → 16 tokens per temporal group
VID_FRAMES = 12    # at 1 fps: 6 temporal groups, stamped <0.5 seconds> … <10.5 seconds>
VID_FPS = 1

COLORS = {'red': (220, 40, 40), 'green': (40, 170, 60), 'blue': (40, 80, 220), 'yellow': (235, 200, 30),
          'purple': (140, 60, 190), 'orange': (245, 130, 20)}
SHAPES = ['circle', 'square', 'triangle', 'diamond']
WORDS = ['CAT', 'DOG', 'SUN', 'TREE', 'BOOK', 'FISH', 'BIRD', 'STAR', 'MOON', 'CAKE', 'RAIN', 'MILK', 'DUCK', 'FROG',
         'PARK', 'KITE']
TASKS = ['shape', 'color', 'count', 'position', 'read', 'ground', 'compare', 'video']

_FONT = {
    '0': '01110 10001 10011 10101 11001 10001 01110', '1': '00100 01100 00100 00100 00100 00100 01110',
    '2': '01110 10001 00001 00010 00100 01000 11111', '3': '11111 00010 00100 00010 00001 10001 01110',
    '4': '00010 00110 01010 10010 11111 00010 00010', '5': '11111 10000 11110 00001 00001 10001 01110',
    '6': '00110 01000 10000 11110 10001 10001 01110', '7': '11111 00001 00010 00100 01000 01000 01000',
    '8': '01110 10001 10001 01110 10001 10001 01110', '9': '01110 10001 10001 01111 00001 00010 01100',
    'A': '01110 10001 10001 11111 10001 10001 10001', 'B': '11110 10001 10001 11110 10001 10001 11110',
    'C': '01110 10001 10000 10000 10000 10001 01110', 'D': '11100 10010 10001 10001 10001 10010 11100',
    'E': '11111 10000 10000 11110 10000 10000 11111', 'F': '11111 10000 10000 11110 10000 10000 10000',
    'G': '01110 10001 10000 10111 10001 10001 01111', 'H': '10001 10001 10001 11111 10001 10001 10001',
    'I': '01110 00100 00100 00100 00100 00100 01110', 'K': '10001 10010 10100 11000 10100 10010 10001',
    'L': '10000 10000 10000 10000 10000 10000 11111', 'M': '10001 11011 10101 10101 10001 10001 10001',
    'N': '10001 10001 11001 10101 10011 10001 10001', 'O': '01110 10001 10001 10001 10001 10001 01110',
    'P': '11110 10001 10001 11110 10000 10000 10000', 'R': '11110 10001 10001 11110 10100 10010 10001',
    'S': '01111 10000 10000 01110 00001 00001 11110', 'T': '11111 00100 00100 00100 00100 00100 00100',
    'U': '10001 10001 10001 10001 10001 10001 01110', 'W': '10001 10001 10001 10101 10101 10101 01010',
}


def canvas(rng, size):
    bg = rng.integers(225, 256, size=3)
    return np.broadcast_to(bg.astype(np.uint8), (size, size, 3)).copy()


def shape_mask(shape, cx, cy, r, size):
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    dx, dy = x - cx, y - cy
    if shape == 'circle':
        return dx * dx + dy * dy <= r * r
    if shape == 'square':
        return (np.abs(dx) <= r * 0.85) & (np.abs(dy) <= r * 0.85)
    if shape == 'diamond':
        return np.abs(dx) + np.abs(dy) <= r * 1.15
    # triangle pointing up: apex at (cx, cy - r), base at cy + r·0.8
    top, bot = cy - r, cy + r * 0.8
    t = (y - top) / (bot - top)
    return (t >= 0) & (t <= 1) & (np.abs(dx) <= t * r)


def bbox(mask):
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def draw(img, shape, color, cx, cy, r):
    m = shape_mask(shape, cx, cy, r, img.shape[0])
    img[m] = COLORS[color]
    return m


def configure(img, vid, frames):
    """Picture size, clip frame size and frame count (the CPU preset trains on smaller ones)."""
    global IMG, VID, VID_FRAMES
    IMG, VID, VID_FRAMES = img, vid, frames


def place(rng, n, size, rmin, rmax, margin=4):
    """n non-overlapping circles (cx, cy, r) inside the canvas; radii are given for a 192 (picture) or 128 (clip)
    canvas and scaled to the actual one."""
    k = size / (192 if size == IMG else 128)
    rmin, rmax, margin = rmin * k, rmax * k, max(2, margin * k)
    out = []
    for _ in range(1000):
        if len(out) == n:
            return out
        r = rng.uniform(rmin, rmax)
        cx, cy = rng.uniform(r + margin, size - r - margin, size=2)
        if all((cx - a) ** 2 + (cy - b) ** 2 > (r + c + margin) ** 2 for a, b, c in out):
            out.append((cx, cy, r))
    raise RuntimeError('placement failed')


def render_text(img, text, x, y, scale, color):
    for k, ch in enumerate(text):
        rows = _FONT[ch].split()
        for r, row in enumerate(rows):
            for c, bit in enumerate(row):
                if bit == '1':
                    x0, y0 = x + (k * 6 + c) * scale, y + r * scale
                    img[y0:y0 + scale, x0:x0 + scale] = color


def to1000(v, size):
    return int(round(v * 1000 / size))


# ---------------------------------------------------------------------------------------------------------- tasks

def t_shape(rng):
    img = canvas(rng, IMG)
    s, c = rng.choice(SHAPES), rng.choice(list(COLORS))
    (cx, cy, r), = place(rng, 1, IMG, 22, 50)
    draw(img, s, c, cx, cy, r)
    q = rng.choice(['What shape is this?', 'What shape do you see?', 'Name the shape.'])
    return {'images': [img], 'question': q, 'answer': s}


def t_color(rng):
    img = canvas(rng, IMG)
    s, c = rng.choice(SHAPES), rng.choice(list(COLORS))
    (cx, cy, r), = place(rng, 1, IMG, 22, 50)
    draw(img, s, c, cx, cy, r)
    q = rng.choice([f'What color is the {s}?', 'What color is the shape?'])
    return {'images': [img], 'question': q, 'answer': c}


def t_count(rng):
    img = canvas(rng, IMG)
    n = int(rng.integers(1, 7))
    s = rng.choice(SHAPES)
    for cx, cy, r in place(rng, n, IMG, 12, 20):
        draw(img, s, rng.choice(list(COLORS)), cx, cy, r)
    q = rng.choice([f'How many {s}s are there?', 'How many shapes are in the picture?', f'Count the {s}s.'])
    return {'images': [img], 'question': q, 'answer': str(n)}


def t_position(rng):
    img = canvas(rng, IMG)
    s1, s2 = rng.choice(SHAPES, size=2, replace=False)
    c1, c2 = rng.choice(list(COLORS), size=2, replace=False)
    while True:
        (x1, y1, r1), (x2, y2, r2) = place(rng, 2, IMG, 16, 30)
        dx, dy = x1 - x2, y1 - y2
        if max(abs(dx), abs(dy)) > 1.6 * min(abs(dx), abs(dy)) + 10:
            break
    draw(img, s1, c1, x1, y1, r1)
    draw(img, s2, c2, x2, y2, r2)
    ans = ('left' if dx < 0 else 'right') if abs(dx) > abs(dy) else ('above' if dy < 0 else 'below')
    q = f'Where is the {c1} {s1} relative to the {c2} {s2}?'
    return {'images': [img], 'question': q, 'answer': ans}


def t_read(rng):
    img = canvas(rng, IMG)
    text = rng.choice(WORDS) if rng.random() < 0.6 else str(int(rng.integers(10, 1000)))
    scale = max(1, int(round(int(rng.integers(3, 5)) * IMG / 192)))
    w, h = (len(text) * 6 - 1) * scale, 7 * scale
    x, y = int(rng.integers(2, IMG - w - 2)), int(rng.integers(2, IMG - h - 2))
    render_text(img, text, x, y, scale, tuple(int(v) for v in rng.integers(0, 90, size=3)))
    q = rng.choice(['What does the text say?', 'Read the text in the image.', 'What is written here?'])
    return {'images': [img], 'question': q, 'answer': text}


def t_ground(rng, n=None, same_shape=False):
    img = canvas(rng, IMG)
    if same_shape:  # the target beside one or two shapes of its own kind in other colours: only colour tells them apart
        n = int(rng.integers(2, 4))
        s0 = rng.choice(SHAPES)
        c0, c1 = rng.choice(list(COLORS), size=2, replace=False)
        kinds = {(c0, s0), (c1, s0)}
    else:
        n = int(rng.integers(1, 4)) if n is None else n
        kinds = set()
    while len(kinds) < n:
        kinds.add((rng.choice(list(COLORS)), rng.choice(SHAPES)))
    kinds = sorted(kinds)
    boxes = []
    for (c, s), (cx, cy, r) in zip(kinds, place(rng, n, IMG, 14, 36)):
        boxes.append(bbox(draw(img, s, c, cx, cy, r)))
    k = kinds.index((c0, s0)) if same_shape else int(rng.integers(0, n))
    c, s = kinds[k]
    x1, y1, x2, y2 = boxes[k]
    box = [to1000(x1, IMG), to1000(y1, IMG), to1000(x2, IMG), to1000(y2, IMG)]
    q = f'Locate the {c} {s} and output its bbox coordinates in JSON format.'
    ans = json.dumps([{'bbox_2d': box, 'label': f'{c} {s}'}])
    # others: every other shape's kind and box (0-1000), for train/ground_misses.py
    others = [(f'{oc} {os_}', [to1000(v, IMG) for v in b]) for i, ((oc, os_), b) in enumerate(zip(kinds, boxes)) if i != k]
    return {'images': [img], 'question': q, 'answer': ans, 'box': box, 'others': others}


def t_cshape(rng, ask_color=False):
    """Two or three shapes of different kinds and colours, one of them asked by its colour alone: selecting a shape by
    colour (grounding's same-shape case needs it; nothing else asks it, position's two shapes differ in kind too).
    ask_color: the converse, "What color is the circle?" among them (select by kind, the skill the model has, and read
    the colour at that place, which the one-shape colour task never needed)."""
    img = canvas(rng, IMG)
    n = int(rng.integers(2, 4))
    shapes = rng.choice(SHAPES, size=n, replace=False)
    colors = rng.choice(list(COLORS), size=n, replace=False)
    for s, c, (cx, cy, r) in zip(shapes, colors, place(rng, n, IMG, 14, 36)):
        draw(img, s, c, cx, cy, r)
    k = int(rng.integers(0, n))
    if ask_color:
        return {'images': [img], 'question': f'What color is the {shapes[k]}?', 'answer': str(colors[k])}
    return {'images': [img], 'question': f'What shape is {colors[k]}?', 'answer': str(shapes[k])}


def t_compare(rng):
    a, b = canvas(rng, IMG), canvas(rng, IMG)
    if rng.random() < 0.5:
        na, nb = rng.choice(np.arange(1, 7), size=2, replace=False)
        s = rng.choice(SHAPES)
        for img, n in ((a, na), (b, nb)):
            for cx, cy, r in place(rng, int(n), IMG, 12, 20):
                draw(img, s, rng.choice(list(COLORS)), cx, cy, r)
        q = rng.choice([f'Which image has more {s}s?', 'Which picture has more shapes?'])
        ans = 'the first' if na > nb else 'the second'
    else:
        s, c = rng.choice(SHAPES), rng.choice(list(COLORS))
        (cx, cy, r), = place(rng, 1, IMG, 22, 44)
        what = rng.choice(['color', 'shape'])
        s2 = rng.choice([x for x in SHAPES if x != s]) if what == 'shape' else s
        c2 = rng.choice([x for x in COLORS if x != c]) if what == 'color' else c
        draw(a, s, c, cx, cy, r)
        draw(b, s2, c2, cx, cy, r)
        q = 'What differs between the two pictures?'
        ans = f'the {what}'
    return {'images': [a, b], 'question': q, 'answer': ans}


def video_times():
    """The prompt's per-group timestamps for VID_FRAMES frames at VID_FPS (spec §6.4, Python's .1f)."""
    ts = [i / VID_FPS for i in range(VID_FRAMES)]
    return [format((ts[2 * k] + ts[2 * k + 1]) / 2, '.1f') for k in range(VID_FRAMES // 2)]


def t_video(rng, kind=None, ask_color=False):
    groups = VID_FRAMES // 2
    s, c = rng.choice(SHAPES), rng.choice(list(COLORS))
    kind = kind or rng.choice(['appear', 'change', 'move'])
    bg = canvas(rng, VID)
    frames = []
    (cx, cy, r), = place(rng, 1, VID, 14, 22)
    times = video_times()
    if kind == 'move':
        d = rng.choice(['left', 'right', 'up', 'down'])
        span = VID - 2 * r - 12 * VID / 128
        for f in range(VID_FRAMES):
            p = 6 * VID / 128 + r + span * f / (VID_FRAMES - 1)
            x, y = (p, cy) if d == 'right' else (VID - p, cy) if d == 'left' else (cx, p) if d == 'down' else (cx, VID - p)
            img = bg.copy()
            draw(img, s, c, x, y, r)
            frames.append(img)
        q = f'Which way does the {s} move?'
        return {'video': frames, 'question': q, 'answer': d}
    g = int(rng.integers(1, groups))  # the event starts at the first frame of group g
    c2 = rng.choice([x for x in COLORS if x != c])
    for f in range(VID_FRAMES):
        img = bg.copy()
        if kind == 'appear' and f >= 2 * g:
            draw(img, s, c, cx, cy, r)
        if kind == 'change':
            draw(img, s, c if f < 2 * g else c2, cx, cy, r)
        frames.append(img)
    if ask_color:
        # Training only: the colour at one group's time, so the clip tokens must carry colour per group.
        k = int(rng.integers(0, groups))
        return {'video': frames, 'question': f'What color is the {s} at {times[k]} seconds?', 'answer': c if k < g else c2}
    if kind == 'appear':
        q = f'When does the {c} {s} appear?'
    else:
        # Names the new colour ("change to green"), so the answer is the first group showing it, a look-up like
        # "appear", where "change color" needed every group compared with the first. Neither is learned yet by the
        # shipped model (train/README.md: 2 of 11 held-out change clips right, about chance).
        q = f'When does the {s} change to {c2}?'
    return {'video': frames, 'question': q, 'answer': f'at {times[g]} seconds'}


GEN = {'shape': t_shape, 'color': t_color, 'count': t_count, 'position': t_position, 'read': t_read,
       'ground': t_ground, 'compare': t_compare, 'video': t_video,
       'ground1': lambda rng: t_ground(rng, 1),
       'groundc': lambda rng: t_ground(rng, same_shape=True),
       'cshape': t_cshape,
       'ccolor': lambda rng: t_cshape(rng, ask_color=True),
       'vchange': lambda rng: t_video(rng, 'change'),
       'vcolor': lambda rng: t_video(rng, 'change', ask_color=True)}
# Training may also draw these (a curriculum); the held-out set, validation and the demo ask TASKS only.
# ground1: grounding with one shape in the picture (the box without the choice of which shape); groundc: grounding
# where another shape of the target's kind, in another colour, is in the picture (the shipped T6 missed 19 of 100
# held-out ground questions, 16 of them by boxing such a shape); cshape: "What shape is red?" among two or three
# shapes (selecting by colour, with a one-token answer); ccolor: "What color is the circle?" among such shapes (the
# converse: the colour read where the named kind is); vchange: only the
# colour-change clips of video; vcolor: a colour-change clip asked "What color is the X at T seconds?" (the pruned
# tokenizer splits " at" as " a"+"t", the engine too, since it reads the same tokenizer).
TRAIN_TASKS = TASKS + ['ground1', 'groundc', 'cshape', 'ccolor', 'vchange', 'vcolor']


def sample(rng, task=None):
    task = task or TASKS[int(rng.integers(0, len(TASKS)))]
    s = GEN[task](rng)
    s['task'] = task
    return s


def corpus_texts():
    """Every question/answer text the tasks can produce (for pruning the tokenizer), plus the chat scaffolding."""
    texts = set()
    rng = np.random.default_rng(0)
    for _ in range(6000):
        s = sample(rng)
        texts.add(s['question'])
        texts.add(s['answer'])
    for w in WORDS:
        texts.add(w)
    texts.update(str(i) for i in range(10))
    texts.update(f'<{t} seconds>' for t in video_times())
    texts.update(['user\n', 'assistant\n', '\n', 'system\n', 'You are a helpful assistant.', '[{"bbox_2d": [1, 2, 3, 4], "label": "red circle"}]'])
    texts.update(f'{c} {s}' for c in COLORS for s in SHAPES)
    return sorted(texts)
