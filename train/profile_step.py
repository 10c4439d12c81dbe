# Where a training step's time goes on CPU (one thread): the BLAS torch uses, making a batch, and forward+backward of
# one batch padded (collate) vs packed (pack), with a check that both give the same losses.
#   python3 train/profile_step.py [--preset cpu] [--batch 32]
import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
import tasks  # noqa: E402
import train as T  # noqa: E402
from tokenizer import load  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--preset', default='cpu', choices=sorted(T.PRESETS))
    ap.add_argument('--batch', type=int, default=32)
    a = ap.parse_args()
    torch.set_num_threads(1)
    T.check_blas()
    x, w = torch.randn(2240, 256), torch.randn(256, 256)
    t = time.time()
    for _ in range(10):
        x @ w
    print(f'matmul 2240x256 @ 256x256, one thread: {2 * 2240 * 256 * 256 * 10 / (time.time() - t) / 1e9:.1f} GFLOP/s')
    tasks.configure(*T.PRESETS[a.preset]['media'])
    tok = load(os.path.join(T.HERE, 'tokenizer', 'tokenizer.json'))
    cfg = T.make_config(tok, a.preset)
    torch.manual_seed(0)
    model = T.Qwen3VL(cfg)
    with torch.no_grad():
        for _, p in model.named_parameters():
            if p.dim() >= 2:
                torch.nn.init.normal_(p, std=0.02)
    rng = np.random.default_rng(0)
    pad = tok.special['<|endoftext|>']
    t = time.time()
    for _ in range(5):
        es = [T.encode(tasks.sample(rng), tok, cfg) for _ in range(a.batch)]
        T.pack(es, cfg, pad, 160)
    print(f'make a batch of {a.batch} (draw, tokenize, pack): {(time.time() - t) / 5 * 1000:.0f} ms')

    def losses(bt):
        h = T.run(model, bt, 'cpu')
        sel = bt['labels'] != -100
        return F.cross_entropy(h[sel] @ model.head_weight().T, bt['labels'][sel], reduction='none')
    bt = T.pack(es, cfg, pad, 160)  # patches travel as uint8 and are rescaled on the device: numpy's float32 values exactly
    old = torch.from_numpy((bt['px'].numpy().astype(np.float32) - 127.5) / 127.5)
    print(f'uint8 patches rescaled by pixels() equal the float32 ones: {torch.equal(T.pixels(bt["px"], "cpu"), old)}')
    a_, b_ = losses(T.collate(es, cfg, pad)), losses(T.pack(es, cfg, pad, 160))
    print(f'padded vs packed losses: max difference {(a_.sort().values - b_.sort().values).abs().max().item():.2e}')
    for name, bt in (('padded', T.collate(es, cfg, pad)), ('packed', T.pack(es, cfg, pad, 160))):
        ts = []
        for _ in range(5):
            t = time.time()
            losses(bt).mean().backward()
            ts.append(time.time() - t)
        print(f'{name} {tuple(bt["ids"].shape)}: forward+backward {sorted(ts)[2] * 1000:.0f} ms (median of 5)')


if __name__ == '__main__':
    main()
