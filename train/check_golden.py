# The training forward is the reference architecture: run train/qwen3vl.py in float32 on the tiny-dense golden case
# (transformers 5.17 outputs, test/fixtures) and compare positions, hidden states, vision outputs and logits.
#   python3 train/check_golden.py [fixtures/qwen3-vl/tiny-dense]   (default: the unpacked vendored fixtures)
import glob
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
import st  # noqa: E402
from qwen3vl import Qwen3VL, rope_index  # noqa: E402


def find_case():
    if len(sys.argv) > 1:
        return sys.argv[1]
    root = os.path.join(os.path.dirname(__file__), '..', 'node_modules', '.cache', 'qwen3-vl-fixtures')
    hits = sorted(glob.glob(os.path.join(root, '*', 'qwen3-vl', 'tiny-dense')))
    if not hits:
        sys.exit('no fixtures: run `npx vite-node test/fixtures/unpack.ts` first, or pass the tiny-dense folder')
    return hits[-1]


def rel(a, b):
    return float((a - b).abs().max() / b.abs().max().clamp(min=1e-30))


def main():
    case = find_case()
    cfg = json.load(open(os.path.join(case, 'config.json')))
    g = json.load(open(os.path.join(case, 'golden.json')))
    gt = st.load(os.path.join(case, 'golden.safetensors'))
    m = Qwen3VL(cfg)
    w = st.load(os.path.join(case, 'model.safetensors'))
    missing, unexpected = m.load_state_dict(w, strict=False)
    missing = [k for k in missing if not (m.tied and k == 'lm_head.weight')]
    assert not missing and not unexpected, (missing, unexpected)
    m.eval()
    ids = g['input_ids'][0] if isinstance(g['input_ids'][0], list) else g['input_ids']
    pos, delta = rope_index(ids, g['image_grid_thw'], g['video_grid_thw'], cfg)
    want_pos = gt['position_ids'].reshape(3, -1)
    worst = {}
    worst['position_ids'] = float((pos - want_pos).abs().max())
    s = len(ids)
    mask = torch.ones(s, s, dtype=torch.bool).tril()[None, None]
    hid = []
    with torch.no_grad():
        x = m(torch.tensor([ids]), pos[:, None], mask, gt['pixel_values'], [tuple(t) for t in g['image_grid_thw']],
              gt['pixel_values_videos'], [tuple(t) for t in g['video_grid_thw']], hidden_out=hid)
        logits = x[0] @ m.head_weight().T
    for i, h in enumerate(hid):
        worst[f'hidden_states.{i}'] = rel(h[0], gt[f'hidden_states.{i}'].reshape(s, -1))
    worst['logits.last4'] = rel(logits[-4:], gt['logits.last4'])
    worst['rope_delta'] = abs(delta - (g['rope_deltas'][0][0] if isinstance(g['rope_deltas'][0], list) else g['rope_deltas'][0]))
    for k, v in worst.items():
        print(f'{k:20s} {v:.2e}')
    ok = worst['logits.last4'] <= 1e-5 and worst['position_ids'] == 0 and worst['rope_delta'] == 0
    print('golden check:', 'PASS (logits within 1e-5 relative)' if ok else 'FAIL')
    sys.exit(0 if ok else 1)


if __name__ == '__main__':
    main()
