"""Where a checkpoint's grounding goes wrong: for the held-out ground questions (or another seed's), how many shapes
the picture had, and for each miss the shape it boxed instead (same shape in another colour, same colour, neither).
    python3 train/ground_misses.py CHECKPOINT_DIR [--per-task 100] [--seed 20261204] [--binding 120]
--binding N also asks N questions of the training-only tasks groundc (a same-kind shape in another colour beside the
target), cshape ("What shape is red?") and ccolor ("What color is the circle?" among 2-3 shapes), from a seed of
their own (777), and counts the right answers.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
import st  # noqa: E402
import tasks  # noqa: E402
import train as T  # noqa: E402
from qwen3vl import Qwen3VL  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('checkpoint')
    ap.add_argument('--per-task', type=int, default=100, help='questions per task drawn (the ground ones are asked)')
    ap.add_argument('--seed', type=int, default=T.EVAL_SEED, help=f'question seed (default the held-out one, {T.EVAL_SEED}; validation: {T.VAL_SEED})')
    ap.add_argument('--threads', type=int, default=None)
    ap.add_argument('--binding', type=int, default=0, help='also ask N groundc, cshape and ccolor questions (seed 777)')
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    cfg = json.load(open(os.path.join(a.checkpoint, 'config.json')))
    rec = os.path.join(a.checkpoint, 'training.json')
    tasks.configure(*T.PRESETS[json.load(open(rec)).get('preset', 'gpu') if os.path.exists(rec) else 'gpu']['media'])
    model = Qwen3VL(cfg)
    model.load_state_dict(st.load(os.path.join(a.checkpoint, 'model.safetensors')), strict=False)
    model.eval()
    tok = T.load_tokenizer(os.path.join(T.HERE, 'tokenizer', 'tokenizer.json'))
    rng = np.random.default_rng(a.seed)
    # The held-out stream draws every task in turn: draw them all so the ground questions are the same ones.
    ground = [s for s in (tasks.sample(rng, t) for t in tasks.TASKS for _ in range(a.per_task)) if s['task'] == 'ground']
    answers = T.answer(model, ground, cfg, tok, 'cpu')
    by_n = {}
    for s, ans in zip(ground, answers):
        want = json.loads(s['answer'])[0]
        color, shape = want['label'].split()
        hard = any(lab.split()[1] == shape for lab, _ in s['others'])
        row = by_n.setdefault(1 + len(s['others']), {'n': 0, 'right': 0, 'hard': 0, 'hard_right': 0, 'boxed': {}})
        ok = T.correct(s, ans)
        row['n'] += 1
        row['right'] += ok
        row['hard'] += hard
        row['hard_right'] += ok and hard
        if not ok:
            try:
                got = json.loads(ans)[0]['bbox_2d']
                cands = [(want['label'], want['bbox_2d'])] + s['others']
                lab = max(cands, key=lambda c: T.box_iou(got, c[1]))[0]
                what = ('the right shape, a poor box' if lab == want['label'] else
                        'same shape, another colour' if lab.split()[1] == shape else
                        'same colour, another shape' if lab.split()[0] == color else 'another shape and colour')
            except Exception:
                what = 'not a box'
            row['boxed'][what] = row['boxed'].get(what, 0) + 1
    if a.binding:
        brng = np.random.default_rng(777)
        for task, judged_as in (('groundc', 'ground'), ('cshape', 'shape'), ('ccolor', 'color')):
            qs = [dict(tasks.sample(brng, task), task=judged_as) for _ in range(a.binding)]
            got = T.answer(model, qs, cfg, tok, 'cpu', chunk=60)
            print(f'{task}: {sum(T.correct(s, g) for s, g in zip(qs, got))}/{len(qs)} right')
    total = sum(r['right'] for r in by_n.values())
    print(f'{a.checkpoint}: ground {total}/{len(ground)} right (seed {a.seed})')
    for n in sorted(by_n):
        r = by_n[n]
        print(f'  {n} shape(s): {r["right"]}/{r["n"]} right; with a same-shape distractor {r["hard_right"]}/{r["hard"]}; misses: {r["boxed"] or "none"}')


if __name__ == '__main__':
    main()
