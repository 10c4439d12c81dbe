# Train the demo Qwen3-VL on the synthetic tasks (tasks.py) and write a checkpoint in the Hub layout, the held-out
# accuracy set (PNGs + questions + this script's answers) and the demo assets.
#   python3 train/train.py --out OUT [--minutes 5] [--seed 0]
# See train/README.md. The forward is train/qwen3vl.py, checked against transformers' goldens by check_golden.py.
import argparse
import json
import math
import os
import shutil
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
import st  # noqa: E402
import tasks  # noqa: E402
from checkpoint import write_checkpoint, write_media  # noqa: E402
from qwen3vl import Qwen3VL, rope_index  # noqa: E402
from tokenizer import load as load_tokenizer  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
EVAL_SEED = 20261204
EVAL_PER_TASK = 25
# Sampling weights after the easy batches: the tasks the pictures' geometry decides (shape, position, read, ground)
# more often than those solved early (color, compare, video).
TASK_WEIGHTS = 'shape=1.5,position=2,read=2,ground=2,color=0.5,compare=0.5,count=1,video=0.75'
VAL_SEED = 20261205  # validation during training (--val-every): neither the training stream nor EVAL_SEED


# Model and media sizes. gpu: what a few minutes on one H200 trains well. cpu: small enough for a few CPU cores.
PRESETS = {
    'gpu': {'media': (192, 128, 12), 'text': (256, 512, 4, 4, 2), 'vision': (128, 512, 6, 2, [1, 3], 144)},
    'cpu': {'media': (96, 64, 8), 'text': (128, 384, 2, 2, 1), 'vision': (64, 256, 2, 1, [0, 1], 36)},
}


def make_config(tok, preset, vision=None):
    th, ti, tl, tn, tkv = PRESETS[preset]['text']
    vh, vi, vd, vn, vds, vpos = vision or PRESETS[preset]['vision']
    vocab = len(tok.vocab) + len(tok.special)  # exactly the tokenizer's: no padding row can be generated
    sp = tok.special
    text = {
        'attention_bias': False, 'attention_dropout': 0.0, 'bos_token_id': sp['<|endoftext|>'], 'eos_token_id': sp['<|im_end|>'],
        'hidden_act': 'silu', 'initializer_range': 0.02, 'max_position_embeddings': 4096, 'model_type': 'qwen3_vl_text',
        'rms_norm_eps': 1e-6, 'rope_scaling': {'mrope_interleaved': True, 'mrope_section': [12, 10, 10], 'rope_type': 'default'},
        'rope_theta': 5000000, 'tie_word_embeddings': True, 'use_cache': True, 'dtype': 'bfloat16', 'vocab_size': vocab,
        'hidden_size': th, 'intermediate_size': ti, 'num_hidden_layers': tl, 'num_attention_heads': tn,
        'num_key_value_heads': tkv, 'head_dim': 64,
    }
    vision = {
        'hidden_act': 'gelu_pytorch_tanh', 'in_channels': 3, 'initializer_range': 0.02, 'model_type': 'qwen3_vl',
        'patch_size': 16, 'spatial_merge_size': 2, 'temporal_patch_size': 2, 'depth': vd, 'hidden_size': vh,
        'intermediate_size': vi, 'num_heads': vn, 'out_hidden_size': th, 'num_position_embeddings': vpos,
        'deepstack_visual_indexes': vds,
    }
    return {
        'architectures': ['Qwen3VLForConditionalGeneration'], 'model_type': 'qwen3_vl', 'text_config': text,
        'vision_config': vision, 'tie_word_embeddings': True, 'image_token_id': sp['<|image_pad|>'],
        'video_token_id': sp['<|video_pad|>'], 'vision_start_token_id': sp['<|vision_start|>'],
        'vision_end_token_id': sp['<|vision_end|>'], 'dtype': 'bfloat16',
    }


# ------------------------------------------------------------------------------------------------ encoding

def patchify(frames):
    """uint8 frames [T, H, W, 3] → ([gt·gh·gw, 1536] uint8, (gt, gh, gw)) in the processor's patch layout (spec §6.4).
    The rows stay uint8 through the data processes and the copy to the device (a quarter of float32's bytes);
    pixels() rescales them there."""
    x = frames
    if x.shape[0] % 2:
        x = np.concatenate([x, x[-1:]], 0)
    t, h, w, c = x.shape
    gt, gh, gw = t // 2, h // 16, w // 16
    x = x.transpose(0, 3, 1, 2).reshape(gt, 2, c, gh // 2, 2, 16, gw // 2, 2, 16)
    x = x.transpose(0, 3, 6, 4, 7, 2, 1, 5, 8).reshape(gt * gh * gw, c * 2 * 16 * 16)
    return x, (gt, gh, gw)


def pixels(px, dev):
    """uint8 patch rows → float32 on the device: (x - 127.5) / 127.5, the processor's rescale and normalize (the
    same float32 operations numpy did before, so the values are bit-identical)."""
    return None if px is None else (px.to(dev, non_blocking=True).float() - 127.5) / 127.5


def encode(s, tok, cfg):
    """One sample → ids, loss mask (answer + <|im_end|>), patches and grids (images and video)."""
    im_pad, vid_pad = '<|image_pad|>', '<|video_pad|>'
    user = ''
    imgs, img_grids, vids, vid_grids = [], [], [], []
    for im in s.get('images', []):
        p, g = patchify(im[None])
        imgs.append(p)
        img_grids.append(g)
        user += '<|vision_start|>' + im_pad * (g[0] * g[1] * g[2] // 4) + '<|vision_end|>'
    if 'video' in s:
        p, g = patchify(np.stack(s['video']))
        vids.append(p)
        vid_grids.append(g)
        for t in tasks.video_times():
            user += f'<{t} seconds><|vision_start|>' + vid_pad * (g[1] * g[2] // 4) + '<|vision_end|>'
    prompt = f'<|im_start|>user\n{user}{s["question"]}<|im_end|>\n<|im_start|>assistant\n'
    p_ids = tok.encode(prompt)
    a_ids = tok.encode(s['answer'] + '<|im_end|>')
    return {'prompt': p_ids, 'answer': a_ids, 'images': imgs, 'img_grids': img_grids, 'videos': vids, 'vid_grids': vid_grids}


def collate(encs, cfg, pad_id, with_answer=True):
    seqs = [e['prompt'] + (e['answer'] if with_answer else []) for e in encs]
    s = max(len(q) for q in seqs)
    b = len(seqs)
    ids = torch.full((b, s), pad_id, dtype=torch.long)
    labels = torch.full((b, s), -100, dtype=torch.long)
    pos = torch.zeros(3, b, s, dtype=torch.long)
    valid = torch.zeros(b, s, dtype=torch.bool)
    for i, (e, q) in enumerate(zip(encs, seqs)):
        ids[i, :len(q)] = torch.tensor(q)
        valid[i, :len(q)] = True
        if with_answer:
            labels[i, len(e['prompt']) - 1:len(q) - 1] = torch.tensor(e['answer'])
        p, _ = rope_index(q, e['img_grids'], e['vid_grids'], cfg)
        pos[:, i, :len(q)] = p
    mask = torch.ones(s, s, dtype=torch.bool).tril()[None, None] & valid[:, None, None, :]
    mask = mask | torch.eye(s, dtype=torch.bool)[None, None]  # padded rows attend to themselves (no NaN)
    cat = lambda xs: torch.from_numpy(np.concatenate(xs)) if xs else None  # noqa: E731
    return {
        'ids': ids, 'labels': labels, 'pos': pos, 'mask': mask,
        'px': cat([p for e in encs for p in e['images']]), 'grids': [g for e in encs for g in e['img_grids']],
        'pxv': cat([p for e in encs for p in e['videos']]), 'vgrids': [g for e in encs for g in e['vid_grids']],
        'lens': [len(q) for q in seqs],
    }


def pack(encs, cfg, pad_id, row):
    """Training batch with the samples packed into rows of `row` tokens (first fit, longest first): each sample attends
    only within itself (block-diagonal causal mask) and has its own MRoPE positions, so this computes exactly what
    collate() does, without the padding (a video prompt is ~3x a picture prompt). Media are listed in row-major token
    order, the order in which the forward scatters them."""
    seqs = [e['prompt'] + e['answer'] for e in encs]
    order = sorted(range(len(encs)), key=lambda i: -len(seqs[i]))
    row = max(row, len(seqs[order[0]]))  # a longer sample (the gpu preset's clips) widens the rows
    rows, used = [], []
    for i in order:
        n = len(seqs[i])
        k = next((r for r in range(len(rows)) if used[r] + n <= row), None)
        if k is None:
            rows.append([])
            used.append(0)
            k = len(rows) - 1
        rows[k].append(i)
        used[k] += n
    s = max(used)
    b = len(rows)
    ids = torch.full((b, s), pad_id, dtype=torch.long)
    labels = torch.full((b, s), -100, dtype=torch.long)
    weight = torch.zeros(b, s)
    pos = torch.zeros(3, b, s, dtype=torch.long)
    seg = torch.full((b, s), -1, dtype=torch.long)
    px, grids, pxv, vgrids = [], [], [], []
    for r, members in enumerate(rows):
        o = 0
        for i in members:
            e, q = encs[i], seqs[i]
            n, na = len(q), len(e['answer'])
            ids[r, o:o + n] = torch.tensor(q)
            labels[r, o + len(e['prompt']) - 1:o + n - 1] = torch.tensor(e['answer'])
            weight[r, o + len(e['prompt']) - 1:o + n - 1] = 1.0 / na
            pos[:, r, o:o + n] = rope_index(q, e['img_grids'], e['vid_grids'], cfg)[0]
            seg[r, o:o + n] = i
            px += e['images']; grids += e['img_grids']; pxv += e['videos']; vgrids += e['vid_grids']
            o += n
    causal = torch.ones(s, s, dtype=torch.bool).tril()[None, None]
    mask = causal & (seg[:, None, :, None] == seg[:, None, None, :]) & (seg[:, None, None, :] >= 0)
    mask = mask | torch.eye(s, dtype=torch.bool)[None, None]  # padded rows attend to themselves (no NaN)
    cat = lambda xs: torch.from_numpy(np.concatenate(xs)) if xs else None  # noqa: E731
    return {'ids': ids, 'labels': labels, 'weight': weight, 'pos': pos, 'mask': mask, 'px': cat(px), 'grids': grids,
            'pxv': cat(pxv), 'vgrids': vgrids, 'n': len(encs)}


class Stream(torch.utils.data.IterableDataset):
    """Training batches. The first `easy` batches (shared among the data processes) hold only the one-shape pictures,
    mostly shape (easy_weights): the vision tower gets almost no gradient until the decoder starts to look at the image
    tokens, and with all eight tasks from the start that takes thousands of steps; shape alone gets the tower to
    geometry in a few hundred (measured: shape 62% of validation after 700 such steps, still at chance with shape and
    colour half and half). Then all tasks, drawn with `weights`."""

    def __init__(self, seed, batch, tok, cfg, row, weights, easy=0, easy_weights=None):
        self.seed, self.batch, self.tok, self.cfg, self.row, self.easy = seed, batch, tok, cfg, row, easy
        w = np.array([weights[t] for t in tasks.TRAIN_TASKS], dtype=np.float64)
        self.p = w / w.sum()
        ew = easy_weights or {'shape': 1.0, 'color': 1.0}
        w = np.array([ew.get(t, 0.0) for t in tasks.TRAIN_TASKS], dtype=np.float64)
        self.pe = w / w.sum()

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        rng = np.random.default_rng([self.seed, info.id if info else 0])
        pad = self.tok.special['<|endoftext|>']
        easy = -(-self.easy // (info.num_workers if info else 1))  # the processes share the easy batches
        k = 0
        while True:
            p = self.pe if k < easy else self.p
            pick = lambda: tasks.sample(rng, tasks.TRAIN_TASKS[int(rng.choice(len(tasks.TRAIN_TASKS), p=p))])  # noqa: E731
            yield pack([encode(pick(), self.tok, self.cfg) for _ in range(self.batch)], self.cfg, pad, self.row)
            k += 1


def run(model, bt, dev, feats=None):
    to = lambda t: None if t is None else t.to(dev, non_blocking=True)  # noqa: E731
    return model(to(bt['ids']), to(bt['pos']), to(bt['mask']), pixels(bt['px'], dev), bt['grids'], pixels(bt['pxv'], dev), bt['vgrids'], feats=feats)


# ------------------------------------------------------------------------------------------------ answers

@torch.no_grad()
def greedy(model, encs, cfg, tok, dev, max_new=48):
    """Greedy answers (no KV cache: the prompt is re-run each step; answers are short)."""
    pad = tok.special['<|endoftext|>']
    eos = tok.special['<|im_end|>']
    # A vision placeholder in the answer (an untrained model's argmax can be one) would make the re-run prompt ask
    # rope_index for a grid that does not exist: the answer ends there instead.
    stop = {eos} | {cfg[k] for k in ('image_token_id', 'video_token_id', 'vision_start_token_id', 'vision_end_token_id') if k in cfg}
    outs = [[] for _ in encs]
    done = [False] * len(encs)
    bt = collate(encs, cfg, pad, with_answer=False)
    feats = {}  # the vision tower runs once; each step re-runs only the decoder
    if bt['grids']:
        feats['image'] = model.encode(pixels(bt['px'], dev), bt['grids'])
    if bt['vgrids']:
        feats['video'] = model.encode(pixels(bt['pxv'], dev), bt['vgrids'])
    for _ in range(max_new):
        cur = [dict(e, prompt=e['prompt'] + o) for e, o in zip(encs, outs)]
        bt = collate(cur, cfg, pad, with_answer=False)
        h = run(model, bt, dev, feats)
        last = h[torch.arange(len(encs)), torch.tensor(bt['lens']) - 1]
        nxt = (last.float() @ model.head_weight().float().T).argmax(-1).tolist()
        for i, t in enumerate(nxt):
            if done[i]:
                continue
            if t in stop:
                done[i] = True
            else:
                outs[i].append(t)
        if all(done):
            break
    return [tok.decode(o) for o in outs]


def answer(model, samples, cfg, tok, dev, chunk=50):
    """Greedy answers to task samples, `chunk` prompts a batch."""
    out = []
    for i in range(0, len(samples), chunk):
        out += greedy(model, [encode(s, tok, cfg) for s in samples[i:i + chunk]], cfg, tok, dev)
    return out


def box_iou(a, b):
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / u if u > 0 else 0.0


def correct(s, ans):
    """Grounding: same label and IoU ≥ 0.5 with the true box; everything else: the exact answer."""
    if s['task'] != 'ground':
        return ans.strip() == s['answer']
    try:
        got = json.loads(ans)[0]
        want = json.loads(s['answer'])[0]
        return got['label'] == want['label'] and box_iou(got['bbox_2d'], want['bbox_2d']) >= 0.5
    except Exception:
        return False


class Validator:
    """Per-task accuracy on a validation seed of its own (neither training nor the held-out set), to watch a run."""

    def __init__(self, tok, cfg, dev, per_task=16):
        rng = np.random.default_rng(VAL_SEED)
        self.samples = [tasks.sample(rng, t) for t in tasks.TASKS for _ in range(per_task)]
        self.encs = [encode(s, tok, cfg) for s in self.samples]
        self.tok, self.cfg, self.dev = tok, cfg, dev

    def __call__(self, model):
        per = {}
        for i in range(0, len(self.encs), 64):
            answers = greedy(model, self.encs[i:i + 64], self.cfg, self.tok, self.dev)
            for s, ans in zip(self.samples[i:i + 64], answers):
                per.setdefault(s['task'], []).append(correct(s, ans))
        return {t: sum(v) / len(v) for t, v in per.items()}


def check_blas():
    """Debian's torch links the reference BLAS (libblas.so.3 of `blas`: ~5 GFLOP/s, 20x slower than OpenBLAS on one
    core). If an OpenBLAS is installed beside it (Debian: libopenblas0-serial / -pthread), re-run this script with it
    in front of the loader path; else say how to get one."""
    if 'BLAS_INFO=generic' not in torch.__config__.show() or os.environ.get('QWEN3VL_TRAIN_BLAS') == 'done':
        return
    import glob
    found = sorted(glob.glob('/usr/lib/*/openblas-serial/libblas.so.3') + glob.glob('/usr/lib/*/openblas-pthread/libblas.so.3'))
    extra = os.environ.get('QWEN3VL_TRAIN_BLAS_DIR')
    if extra:
        found.insert(0, os.path.join(extra, 'libblas.so.3'))
    if found and os.path.exists(found[0]):
        env = dict(os.environ, QWEN3VL_TRAIN_BLAS='done', LD_LIBRARY_PATH=os.path.dirname(found[0]) + ':' + os.environ.get('LD_LIBRARY_PATH', ''))
        print(f'torch uses the reference BLAS; re-running with {os.path.dirname(found[0])}', flush=True)
        os.execve(sys.executable, [sys.executable] + sys.argv, env)
    print('warning: torch uses the reference BLAS (~20x slower than OpenBLAS): `apt-get install libopenblas0-serial`, or '
          'unpack that package and point QWEN3VL_TRAIN_BLAS_DIR at its openblas-serial folder', flush=True)


def bf16_round_(model):
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(torch.bfloat16).float())


# ------------------------------------------------------------------------------------------------ main

def task_weights(ap, flag, text):
    """'shape=4,color=1' -> {'shape': 4.0, 'color': 1.0}; a malformed pair, an unknown task or a negative weight is a
    usage error naming the flag."""
    out = {}
    for kv in filter(None, text.split(',')):
        k, sep, v = kv.partition('=')
        try:
            w = float(v)
        except ValueError:
            w = -1.0
        if not sep or k not in tasks.TRAIN_TASKS or not w >= 0:
            ap.error(f'{flag}: expected task=weight pairs with a task from {", ".join(tasks.TRAIN_TASKS)} and a weight >= 0, got {kv!r}')
        out[k] = w
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', required=True)
    ap.add_argument('--minutes', type=float, default=5.0, help='training wall-clock budget (the schedule is fitted to it)')
    ap.add_argument('--max-steps', type=int, default=20000)
    ap.add_argument('--batch', type=int, default=None, help='examples per step (default: 96 on CUDA, 32 on CPU)')
    ap.add_argument('--lr', type=float, default=1e-3)
    ap.add_argument('--vision-lr', type=float, default=0.3, help='the vision tower\'s learning rate as a fraction of --lr')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--workers', type=int, default=None, help='data processes (default: 0 on CPU, the batch is made between steps; up to 14 on CUDA)')
    ap.add_argument('--threads', type=int, default=None, help='torch CPU threads (default: torch\'s own)')
    ap.add_argument('--row', type=int, default=160, help='packed row length in tokens (training batches are packed, no padding)')
    ap.add_argument('--loss', choices=['token', 'sample'], default='sample', help='mean over answer tokens, or over samples (each answer weighs the same)')
    ap.add_argument('--warmup', type=int, default=100)
    ap.add_argument('--easy-steps', type=int, default=1000, help='first batches with only the easy tasks (--easy-weights)')
    ap.add_argument('--val-every', type=float, default=0, help='minutes between held-out checks on a validation seed (0: none)')
    ap.add_argument('--eval-per-task', type=int, default=EVAL_PER_TASK)
    ap.add_argument('--tokenizer', default=os.path.join(HERE, 'tokenizer'))
    ap.add_argument('--preset', choices=sorted(PRESETS), default=None, help='model/media sizes (default: gpu on CUDA, else cpu)')
    ap.add_argument('--task-weights', default=TASK_WEIGHTS, help='training sampling weights after the easy batches (unnamed tasks: 1)')
    ap.add_argument('--easy-weights', default='shape=4,color=1', help='the easy batches\' task weights (unnamed tasks: 0)')
    ap.add_argument('--img', type=int, default=None, help='picture size (default: the preset\'s)')
    ap.add_argument('--vision-width', type=int, default=None, help='vision tower width (heads of 64; default: the preset\'s)')
    ap.add_argument('--init', choices=['0.02', 'fanin', 'fanin-vision'], default='fanin-vision', help='initial std of the weight matrices')
    ap.add_argument('--init-from', default=None, help='start from this checkpoint folder (OUT/qwen3-vl-demo of a run)')
    ap.add_argument('--adam-eps', type=float, default=1e-8)
    ap.add_argument('--eval-only', action='store_true', help='answer the held-out and demo questions with OUT/qwen3-vl-demo')
    a = ap.parse_args()
    dev = 'cuda' if torch.cuda.is_available() else 'cpu'
    a.batch = a.batch or (96 if dev == 'cuda' else 32)
    if a.workers is None:
        a.workers = max(1, min(14, (os.cpu_count() or 2) - 2)) if dev == 'cuda' else 0
    if a.threads:
        torch.set_num_threads(a.threads)
    if dev == 'cpu':
        check_blas()
    prev = {}  # --eval-only: the checkpoint's own record of its run (recipe, media sizes, seconds)
    if a.eval_only:
        rec = os.path.join(a.out, 'qwen3-vl-demo', 'training.json')
        prev = json.load(open(rec)) if os.path.exists(rec) else {}
        a.preset = a.preset or prev.get('preset')  # its media sizes, not this machine's default preset
    a.preset = a.preset or ('gpu' if dev == 'cuda' else 'cpu')
    media = list(PRESETS[a.preset]['media'])
    if a.img:
        media[0] = a.img
    tasks.configure(*media)
    named = task_weights(ap, '--task-weights', a.task_weights)
    # Every training task's weight: an unnamed held-out task 1, an unnamed training-only one (ground1) 0.
    a.weights = {t: named.get(t, 1.0 if t in tasks.TASKS else 0.0) for t in tasks.TRAIN_TASKS}
    a.easy_w = task_weights(ap, '--easy-weights', a.easy_weights)
    if sum(a.weights.values()) <= 0 or (a.easy_steps > 0 and sum(a.easy_w.values()) <= 0):
        ap.error('--task-weights/--easy-weights: every task weighs 0, so there is nothing to sample')
    torch.manual_seed(a.seed)
    tok = load_tokenizer(os.path.join(a.tokenizer, 'tokenizer.json'))
    vision = list(PRESETS[a.preset]['vision'])
    if a.vision_width:
        vision[0], vision[1], vision[3] = a.vision_width, 4 * a.vision_width, a.vision_width // 64
    cfg = make_config(tok, a.preset, vision)
    if a.eval_only:
        ck = os.path.join(a.out, 'qwen3-vl-demo')
        cfg = json.load(open(os.path.join(ck, 'config.json')))
        model = Qwen3VL(cfg)
        model.load_state_dict(st.load(os.path.join(ck, 'model.safetensors')), strict=False)
        model.to(dev).eval()
        evaluate(a, model, cfg, tok, dev, ck, prev.get('steps', 0), prev.get('final_loss', 0), prev.get('loss_log', []), prev.get('train_seconds', 0),
                 sum(p.numel() for p in model.parameters()), prev)
        return
    os.makedirs(a.out, exist_ok=True)
    model = Qwen3VL(cfg).to(dev)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if p.dim() >= 2:
                # 0.02 (the Hub models' initializer_range) suits widths of 1000+; at 64-128 wide it leaves every
                # block near-linear at the start (GELU/SiLU of inputs with std ~0.2), and a linear path from the
                # pixels can read colour and area but not shape. --init fanin: std 1/sqrt(fan_in) for the matrices
                # (embedding tables stay at 0.02).
                fan_in = p[0].numel()
                fan = a.init == 'fanin' or (a.init == 'fanin-vision' and '.visual.' in n)
                std = 1 / math.sqrt(fan_in) if fan and 'embed_tokens' not in n and 'pos_embed' not in n else 0.02
                torch.nn.init.normal_(p, std=std)
    if a.init_from:  # continue from a checkpoint this script wrote (a fine-tune with other weights or rates)
        model.load_state_dict(st.load(os.path.join(a.init_from, 'model.safetensors')), strict=False)
    nparams = sum(p.numel() for p in model.parameters())
    print(f'device {dev} ({torch.cuda.get_device_name() if dev == "cuda" else os.cpu_count()}), torch {torch.__version__}, {nparams / 1e6:.2f} M parameters, vocab {cfg["text_config"]["vocab_size"]}', flush=True)
    # The vision tower trains at a fraction of the decoder's rate: from scratch, at the decoder's rate its features
    # drift faster than the decoder learns to read them and its gradient dies out (measured on the cpu preset: lr 3e-3
    # everywhere learned no task from the pictures in 1000 steps; 1e-3 or 2e-3 with the tower at 3e-4 did).
    vis = [p for n, p in model.named_parameters() if '.visual.' in n]
    txt = [p for n, p in model.named_parameters() if '.visual.' not in n]
    opt = torch.optim.AdamW([{'params': vis, 'scale': a.vision_lr}, {'params': txt, 'scale': 1.0}], lr=a.lr, betas=(0.9, 0.98), eps=a.adam_eps, weight_decay=0.01)
    extra = {'persistent_workers': True, 'prefetch_factor': 4} if a.workers else {}
    dl = torch.utils.data.DataLoader(Stream(a.seed, a.batch, tok, cfg, a.row, a.weights, a.easy_steps, a.easy_w), batch_size=None, num_workers=a.workers, pin_memory=dev == 'cuda', **extra)
    budget = a.minutes * 60
    warm = a.warmup
    val = Validator(tok, cfg, dev) if a.val_every else None
    next_val = a.val_every * 60
    t0 = time.time()
    step = 0
    ema = None
    log = []
    for bt in dl:
        # The cosine follows the wall clock (or --max-steps, whichever is nearer its end): the run ends on time even
        # when the machine's load changes under it.
        frac = min(1.0, max((time.time() - t0) / budget, step / a.max_steps))
        lr = a.lr * min(1, (step + 1) / warm) * (0.5 * (1 + math.cos(math.pi * frac)) * 0.95 + 0.05)
        for g in opt.param_groups:
            g['lr'] = lr * g['scale']
        with torch.autocast(device_type=dev, dtype=torch.bfloat16, enabled=dev == 'cuda'):
            h = run(model, bt, dev)
            labels = bt['labels'].to(dev)
            sel = labels != -100
            logits = h[sel].float() @ model.head_weight().float().T
            ce = F.cross_entropy(logits, labels[sel], reduction='none')
            loss = ce.mean() if a.loss == 'token' else (ce * bt['weight'].to(dev)[sel]).sum() / bt['n']
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if step % 100 == 99:  # the tower's share of the gradient (it dies out when the decoder stops reading it)
            gv = torch.norm(torch.stack([p.grad.norm() for p in vis if p.grad is not None])).item()
            gt = torch.norm(torch.stack([p.grad.norm() for p in txt if p.grad is not None])).item()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        step += 1
        last = frac >= 1.0
        if step % 100 == 0 or last:
            el = time.time() - t0
            print(f'step {step} ({frac * 100:.0f}%) loss {ema:.4f} lr {lr:.2e} {el:.0f}s' + (f' grad vision/text {gv / gt:.1e}' if step % 100 == 0 else ''), flush=True)
            log.append({'step': step, 'loss': round(ema, 5), 'seconds': round(el, 1)})
        if val and (time.time() - t0 >= next_val or last):
            next_val += a.val_every * 60
            model.eval()
            acc = val(model)
            model.train()
            torch.save(model.state_dict(), os.path.join(a.out, 'partial.pt'))  # a run cut short keeps its weights
            print(f'val step {step} ' + ' '.join(f'{t} {v * 100:.0f}' for t, v in acc.items()) + f' all {np.mean(list(acc.values())) * 100:.1f}', flush=True)
        if last:
            break
    train_s = time.time() - t0
    model.eval()
    bf16_round_(model)  # the shipped weights are bf16: the script's answers come from exactly those
    model.float()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    ck = os.path.join(a.out, 'qwen3-vl-demo')
    write_checkpoint(ck, model, cfg, a.tokenizer)
    json.dump({'preset': a.preset, 'seed': a.seed, 'steps': step, 'batch': a.batch, 'lr': a.lr, 'vision_lr': a.vision_lr, 'loss': a.loss, 'easy_steps': a.easy_steps, 'easy_weights': a.easy_weights, 'task_weights': a.task_weights, 'init': a.init, 'init_from': a.init_from, 'train_seconds': round(train_s, 1), 'final_loss': round(ema, 5),
               'loss_log': log}, open(os.path.join(ck, 'training.json'), 'w'), indent=2)
    print(f'checkpoint written: {ck}', flush=True)

    try:
        evaluate(a, model, cfg, tok, dev, ck, step, ema, log, train_s, nparams)
    except Exception:  # the checkpoint is written already; say what failed
        import traceback
        traceback.print_exc()
    print(f'done: {step} steps in {train_s:.0f}s; checkpoint {ck}', flush=True)


def evaluate(a, model, cfg, tok, dev, ck, step, ema, log, train_s, nparams, prev=None):
    # Held-out questions: a seed the training stream never uses; answers by this script from the bf16 weights in f32.
    rng = np.random.default_rng(EVAL_SEED)
    evals = [tasks.sample(rng, t) for t in tasks.TASKS for _ in range(a.eval_per_task)]
    answers = answer(model, evals, cfg, tok, dev)
    media = os.path.join(a.out, 'accuracy')
    shutil.rmtree(media, ignore_errors=True)  # an earlier --eval-per-task's files would ride along into install.py
    items, per = [], {}
    for k, (s, ans) in enumerate(zip(evals, answers)):
        ok = correct(s, ans)
        per.setdefault(s['task'], []).append(ok)
        items.append({'id': k, 'task': s['task'], **write_media(s, media, f'q{k:03d}'), 'question': s['question'],
                      'answer': s['answer'], 'script': ans, 'script_correct': ok})
    acc = {t: sum(v) / len(v) for t, v in per.items()}
    for t, v in acc.items():
        print(f'held-out {t:10s} {v * 100:5.1f}% of {len(per[t])}', flush=True)
    meta = {'preset': a.preset, 'seed': a.seed, 'eval_seed': EVAL_SEED, 'steps': step, 'batch': a.batch, 'lr': a.lr, 'vision_lr': a.vision_lr, 'loss': a.loss, 'easy_steps': a.easy_steps, 'easy_weights': a.easy_weights, 'task_weights': a.task_weights, 'init': a.init, 'init_from': a.init_from, 'train_seconds': round(train_s, 1),
            'device': torch.cuda.get_device_name() if dev == 'cuda' else 'cpu', 'torch': torch.__version__, 'parameters': nparams,
            'final_loss': round(ema, 5), 'script_accuracy': acc, 'loss_log': log}
    if prev is not None:  # --eval-only: keep the run's own record (recipe, device, seconds); only the answers are new
        meta = {**meta, **{k: v for k, v in prev.items() if k != 'script_accuracy'}, 'eval_seed': EVAL_SEED, 'script_accuracy': acc,
                'eval_device': 'cuda' if dev == 'cuda' else 'cpu'}
    json.dump({'meta': meta, 'items': items}, open(os.path.join(media, 'questions.json'), 'w'), indent=1)
    json.dump(meta, open(os.path.join(ck, 'training.json'), 'w'), indent=2)
    # Demo assets: a seed of their own.
    rng = np.random.default_rng(7)
    demo = []
    for t in tasks.TASKS:
        s = tasks.sample(rng, t)
        ans = greedy(model, [encode(s, tok, cfg)], cfg, tok, dev)[0]
        demo.append({'task': t, **write_media(s, os.path.join(a.out, 'demo'), 'clip' if t == 'video' else t), 'question': s['question'], 'answer': s['answer'], 'script': ans})
    json.dump(demo, open(os.path.join(a.out, 'demo', 'demo.json'), 'w'), indent=1)


if __name__ == '__main__':
    main()
