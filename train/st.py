# Minimal safetensors reader/writer (F32, F16, BF16, I64, I32) on numpy + torch: no extra packages.
import json
import struct

import numpy as np
import torch

_NP = {'F32': np.float32, 'F16': np.float16, 'I64': np.int64, 'I32': np.int32, 'BF16': np.uint16}


def load(path):
    with open(path, 'rb') as f:
        b = f.read()
    n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n])
    out = {}
    for k, v in h.items():
        if k == '__metadata__':
            continue
        s, e = v['data_offsets']
        a = np.frombuffer(b[8 + n + s:8 + n + e], dtype=_NP[v['dtype']]).reshape(v['shape'])
        if v['dtype'] == 'BF16':
            t = torch.from_numpy((a.astype(np.uint32) << 16).view(np.float32).copy())
        else:
            t = torch.from_numpy(a.copy())
        out[k] = t
    return out


def bf16_bits(t):
    """Round-to-nearest-even f32 → bf16 bit patterns (uint16 numpy)."""
    u = t.detach().float().cpu().contiguous().numpy().view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return r


def save(path, tensors, dtype='BF16'):
    """tensors: name → torch tensor, written as bf16 (floats) in name order."""
    header, blobs, off = {}, [], 0
    for k in sorted(tensors):
        t = tensors[k]
        data = bf16_bits(t).tobytes() if dtype == 'BF16' else t.detach().float().cpu().contiguous().numpy().tobytes()
        header[k] = {'dtype': dtype, 'shape': list(t.shape), 'data_offsets': [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    header['__metadata__'] = {'format': 'pt'}
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for d in blobs:
            f.write(d)
