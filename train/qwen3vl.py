# Qwen3-VL in plain PyTorch (spec: vision tower with 2-D RoPE and DeepStack, interleaved MRoPE, Qwen3 decoder), for
# training the demo model. Names and weight keys follow transformers' modules so the state dict is the Hub layout.
# check_golden.py proves it computes the reference's function (tiny-dense logits to 1e-5).
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def attention(q, k, v, mask):
    """q [B, H, S, D], k/v [B, H, T, D], mask [B or 1, 1, S, T] bool (True = attend)."""
    if hasattr(F, 'scaled_dot_product_attention') and q.is_cuda:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    s = (q @ k.transpose(-1, -2)) * (q.shape[-1] ** -0.5)
    s = s.masked_fill(~mask, float('-inf'))
    return torch.softmax(s.float(), dim=-1).to(q.dtype) @ v


def rotate_half(x):
    a, b = x.chunk(2, dim=-1)
    return torch.cat((-b, a), dim=-1)


# ----------------------------------------------------------------------------------------------- vision (spec §4)

class VisionBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        hv = c['hidden_size']
        self.heads = c['num_heads']
        self.norm1 = nn.LayerNorm(hv, eps=1e-6)
        self.norm2 = nn.LayerNorm(hv, eps=1e-6)
        self.attn = nn.Module()
        self.attn.qkv = nn.Linear(hv, 3 * hv)
        self.attn.proj = nn.Linear(hv, hv)
        self.mlp = nn.Module()
        self.mlp.linear_fc1 = nn.Linear(hv, c['intermediate_size'])
        self.mlp.linear_fc2 = nn.Linear(c['intermediate_size'], hv)

    def forward(self, x, cos, sin, seg_len):
        # x [N, Hv] with N = nseg · seg_len: equal-length segments attend within themselves (one image / frame pair).
        n, hv = x.shape
        hd = hv // self.heads
        qkv = self.attn.qkv(self.norm1(x)).view(n, 3, self.heads, hd)
        q, k, v = qkv[:, 0], qkv[:, 1], qkv[:, 2]
        c, s = cos[:, None, :], sin[:, None, :]
        q = (q.float() * c + rotate_half(q.float()) * s).to(x.dtype)
        k = (k.float() * c + rotate_half(k.float()) * s).to(x.dtype)
        g = n // seg_len
        q, k, v = (t.view(g, seg_len, self.heads, hd).transpose(1, 2) for t in (q, k, v))
        mask = torch.ones(1, 1, seg_len, seg_len, dtype=torch.bool, device=x.device)
        o = attention(q, k, v, mask).transpose(1, 2).reshape(n, hv)
        x = x + self.attn.proj(o)
        return x + self.mlp.linear_fc2(F.gelu(self.mlp.linear_fc1(self.norm2(x)), approximate='tanh'))


class Merger(nn.Module):
    def __init__(self, c, postshuffle):
        super().__init__()
        hv, m = c['hidden_size'], c['hidden_size'] * c['spatial_merge_size'] ** 2
        self.post = postshuffle
        self.norm = nn.LayerNorm(m if postshuffle else hv, eps=1e-6)
        self.linear_fc1 = nn.Linear(m, m)
        self.linear_fc2 = nn.Linear(m, c['out_hidden_size'])
        self.m = m

    def forward(self, x):
        x = self.norm(x.view(-1, self.m)) if self.post else self.norm(x).view(-1, self.m)
        return self.linear_fc2(F.gelu(self.linear_fc1(x)))


class VisionModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        hv = c['hidden_size']
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv3d(c['in_channels'], hv, (c['temporal_patch_size'], c['patch_size'], c['patch_size']),
                                          (c['temporal_patch_size'], c['patch_size'], c['patch_size']))
        self.pos_embed = nn.Embedding(c['num_position_embeddings'], hv)
        self.blocks = nn.ModuleList(VisionBlock(c) for _ in range(c['depth']))
        self.merger = Merger(c, False)
        self.deepstack_merger_list = nn.ModuleList(Merger(c, True) for _ in c['deepstack_visual_indexes'])
        self._layouts = {}  # (grid, device) -> layout tensors (see layout)

    def layout(self, grids, device):
        """Per patch (merge-window order): bilinear taps into the position table and (row, col) for the 2-D RoPE.
        Each grid size's layout is built once per device and kept (a training batch repeats a few sizes)."""
        parts = []
        for g in grids:
            key = (tuple(g), str(device))
            if key not in self._layouts:
                self._layouts[key] = tuple(a.to(device) for a in self._layout1(*g))
            parts.append(self._layouts[key])
        if len(parts) == 1:
            return parts[0]
        return tuple(torch.cat(a) for a in zip(*parts))

    def _layout1(self, t, h, w):
        m, side = self.c['spatial_merge_size'], int(math.isqrt(self.c['num_position_embeddings']))
        hs = torch.tensor([i * (side - 1) / (h - 1) for i in range(h)], dtype=torch.float32)
        ws = torch.tensor([i * (side - 1) / (w - 1) for i in range(w)], dtype=torch.float32)
        hf, wf = hs.long(), ws.long()
        hc, wc = (hf + 1).clamp(max=side - 1), (wf + 1).clamp(max=side - 1)
        dh, dw = hs - hf, ws - wf
        i4 = torch.stack([hf[:, None] * side + wf[None], hf[:, None] * side + wc[None], hc[:, None] * side + wf[None], hc[:, None] * side + wc[None]], -1)
        w4 = torch.stack([(1 - dh)[:, None] * (1 - dw)[None], (1 - dh)[:, None] * dw[None], dh[:, None] * (1 - dw)[None], dh[:, None] * dw[None]], -1)
        r = torch.arange(h)[:, None].expand(h, w)
        cc = torch.arange(w)[None].expand(h, w)

        def order(a):  # raster [h, w, ...] → merge-window order, repeated for each temporal patch
            a = a.reshape(h // m, m, w // m, m, *a.shape[2:]).transpose(1, 2).reshape(h * w, *a.shape[2:])
            return a.repeat(t, *([1] * (a.dim() - 1)))
        return order(i4), order(w4), order(r), order(cc)

    def forward(self, pixels, grids):
        """pixels [N, 1536]; grids: list of (t, h, w), all with the same h·w (one attention segment length)."""
        c = self.c
        hv = c['hidden_size']
        seg = {h * w for _, h, w in grids}
        assert len(seg) == 1, 'one call encodes grids of one size'
        idx, wts, rows, cols = self.layout(grids, pixels.device)
        x = F.linear(pixels.to(self.patch_embed.proj.weight.dtype), self.patch_embed.proj.weight.view(hv, -1), self.patch_embed.proj.bias)
        pe = (self.pos_embed.weight[idx].float() * wts[..., None]).sum(1)
        x = x + pe.to(x.dtype)
        hd = hv // c['num_heads']
        rd = hd // 2
        inv = 1.0 / (10000 ** (torch.arange(0, rd, 2, dtype=torch.float32, device=x.device) / rd))
        theta = torch.cat([rows[:, None].float() * inv, cols[:, None].float() * inv], -1)
        emb = torch.cat([theta, theta], -1)
        cos, sin = emb.cos(), emb.sin()
        seg_len = seg.pop()
        ds = []
        for i, blk in enumerate(self.blocks):
            x = blk(x, cos, sin, seg_len)
            if i in c['deepstack_visual_indexes']:
                ds.append(self.deepstack_merger_list[c['deepstack_visual_indexes'].index(i)](x))
        return self.merger(x), ds


# -------------------------------------------------------------------------------------------- text (spec §5)

class RMSNorm(nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        y = x.float() * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * y.to(x.dtype)


class DecoderLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        h, hd = c['hidden_size'], c['head_dim']
        self.nh, self.nkv, self.hd = c['num_attention_heads'], c['num_key_value_heads'], hd
        self.input_layernorm = RMSNorm(h, c['rms_norm_eps'])
        self.post_attention_layernorm = RMSNorm(h, c['rms_norm_eps'])
        a = self.self_attn = nn.Module()
        a.q_proj = nn.Linear(h, self.nh * hd, bias=False)
        a.k_proj = nn.Linear(h, self.nkv * hd, bias=False)
        a.v_proj = nn.Linear(h, self.nkv * hd, bias=False)
        a.o_proj = nn.Linear(self.nh * hd, h, bias=False)
        a.q_norm = RMSNorm(hd, c['rms_norm_eps'])
        a.k_norm = RMSNorm(hd, c['rms_norm_eps'])
        m = self.mlp = nn.Module()
        m.gate_proj = nn.Linear(h, c['intermediate_size'], bias=False)
        m.up_proj = nn.Linear(h, c['intermediate_size'], bias=False)
        m.down_proj = nn.Linear(c['intermediate_size'], h, bias=False)

    def forward(self, x, cos, sin, mask):
        b, s, _ = x.shape
        a = self.self_attn
        y = self.input_layernorm(x)
        q = a.q_norm(a.q_proj(y).view(b, s, self.nh, self.hd)).transpose(1, 2)
        k = a.k_norm(a.k_proj(y).view(b, s, self.nkv, self.hd)).transpose(1, 2)
        v = a.v_proj(y).view(b, s, self.nkv, self.hd).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        rep = self.nh // self.nkv
        k, v = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
        o = attention(q, k, v, mask).transpose(1, 2).reshape(b, s, -1)
        x = x + a.o_proj(o)
        y = self.post_attention_layernorm(x)
        m = self.mlp
        return x + m.down_proj(F.silu(m.gate_proj(y)) * m.up_proj(y))


class TextModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.embed_tokens = nn.Embedding(c['vocab_size'], c['hidden_size'])
        self.layers = nn.ModuleList(DecoderLayer(c) for _ in range(c['num_hidden_layers']))
        self.norm = RMSNorm(c['hidden_size'], c['rms_norm_eps'])

    def rope(self, pos, dtype):
        """pos [3, B, S] → cos, sin [B, 1, S, hd] with the interleaved T/H/W frequency layout (spec §5.2)."""
        c = self.c
        rs = c.get('rope_scaling') or c.get('rope_parameters') or {}
        sec = rs.get('mrope_section', [24, 20, 20])
        theta = c.get('rope_theta', rs.get('rope_theta'))
        hd = c['head_dim']
        inv = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float32, device=pos.device) / hd))
        f = pos.float()[..., None] * inv  # [3, B, S, hd/2]
        j = torch.arange(hd // 2, device=pos.device)
        axis = torch.zeros(hd // 2, dtype=torch.long, device=pos.device)
        axis[(j % 3 == 1) & (j < 3 * sec[1])] = 1
        axis[(j % 3 == 2) & (j < 3 * sec[2])] = 2
        f = f.gather(0, axis.view(1, 1, 1, -1).expand(1, *f.shape[1:]))[0]
        emb = torch.cat([f, f], -1)
        return emb.cos().to(dtype)[:, None], emb.sin().to(dtype)[:, None]


class Qwen3VL(nn.Module):
    """Qwen3VLForConditionalGeneration: model.visual, model.language_model, lm_head (tied or not)."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.model = nn.Module()
        self.model.visual = VisionModel(config['vision_config'])
        self.model.language_model = TextModel(config['text_config'])
        self.tied = config.get('tie_word_embeddings', config['text_config'].get('tie_word_embeddings', False))
        if not self.tied:
            self.lm_head = nn.Linear(config['text_config']['hidden_size'], config['text_config']['vocab_size'], bias=False)

    def head_weight(self):
        return self.model.language_model.embed_tokens.weight if self.tied else self.lm_head.weight

    def encode(self, pixels, grids):
        """Vision tower over grids of possibly different sizes: calls grouped by size, outputs back in grid order."""
        if not grids:
            return None, []
        merge = self.config['vision_config']['spatial_merge_size'] ** 2
        starts, o = [], 0
        for t, h, w in grids:
            starts.append(o)
            o += t * h * w
        merged = [None] * len(grids)
        ds = [[None] * len(grids) for _ in self.config['vision_config']['deepstack_visual_indexes']]
        for size in sorted({h * w for _, h, w in grids}):
            sel = [i for i, (_, h, w) in enumerate(grids) if h * w == size]
            px = torch.cat([pixels[starts[i]:starts[i] + grids[i][0] * size] for i in sel])
            mg, dss = self.model.visual(px, [grids[i] for i in sel])
            o = 0
            for i in sel:
                n = grids[i][0] * size // merge
                merged[i] = mg[o:o + n]
                for lv, d in enumerate(dss):
                    ds[lv][i] = d[o:o + n]
                o += n
        return torch.cat(merged), [torch.cat(d) for d in ds]

    def forward(self, input_ids, position_ids, attn_mask, pixel_values=None, image_grid_thw=(), pixel_values_videos=None,
                video_grid_thw=(), hidden_out=None, feats=None):
        """input_ids [B, S]; position_ids [3, B, S]; attn_mask [B, 1, S, S] bool. Returns final hidden [B, S, H].
        feats: {'image': (merged, deepstack), 'video': …} from encode(), to skip the vision tower (greedy decoding)."""
        cfg = self.config
        lm = self.model.language_model
        x = lm.embed_tokens(input_ids)
        img = input_ids == cfg['image_token_id']
        vid = input_ids == cfg['video_token_id']
        vis_mask = img | vid
        ds_rows = None
        if image_grid_thw or video_grid_thw:
            x = x.clone()
            ds_rows = [torch.zeros(int(vis_mask.sum()), x.shape[-1], dtype=x.dtype, device=x.device) for _ in cfg['vision_config']['deepstack_visual_indexes']]
            sel_img = img[vis_mask]
            sel_vid = vid[vis_mask]
            for kind, grids, px, sel, where in (('image', image_grid_thw, pixel_values, sel_img, img), ('video', video_grid_thw, pixel_values_videos, sel_vid, vid)):
                if not grids:
                    continue
                mg, ds = feats[kind] if feats and kind in feats else self.encode(px, list(grids))
                x[where] = mg.to(x.dtype)
                for lv, d in enumerate(ds):
                    ds_rows[lv][sel] = d.to(x.dtype)
        if hidden_out is not None:
            hidden_out.append(x)
        cos, sin = lm.rope(position_ids, x.dtype)
        for i, layer in enumerate(lm.layers):
            x = layer(x, cos, sin, attn_mask)
            if hidden_out is not None and i < len(lm.layers) - 1:
                hidden_out.append(x)
            if ds_rows is not None and i < len(ds_rows):
                x = x.clone()
                x[vis_mask] = x[vis_mask] + ds_rows[i]
        x = lm.norm(x)
        if hidden_out is not None:
            hidden_out.append(x)
        return x


def rope_index(ids, grids_img, grids_vid, cfg):
    """3-D MRoPE positions of one unpadded prompt (spec §5.3). ids: list[int]. Returns [3, S] and rope_delta."""
    merge = cfg['vision_config']['spatial_merge_size']
    vids = [(1, h, w) for t, h, w in grids_vid for _ in range(t)]
    gi, gv = iter(grids_img), iter(vids)
    pos = [[], [], []]
    p = 0
    i = 0
    img_t, vid_t = cfg['image_token_id'], cfg['video_token_id']
    while i < len(ids):
        if ids[i] in (img_t, vid_t):
            _, h, w = next(gi) if ids[i] == img_t else next(gv)
            gh, gw = h // merge, w // merge
            for r in range(gh):
                for c in range(gw):
                    pos[0].append(p); pos[1].append(p + r); pos[2].append(p + c)
            i += gh * gw
            p += max(gh, gw)
        else:
            for a in range(3):
                pos[a].append(p)
            p += 1
            i += 1
    return torch.tensor(pos), p - len(ids)
