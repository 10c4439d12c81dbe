# The Qwen byte-level BPE, pruned to the tokens the synthetic tasks use. Pruning keeps every merge that the full
# tokenizer applies to the task texts (and only those), in their original rank order: the pruned BPE then splits
# those texts exactly as the full one does (at each step the lowest-rank applicable merge is one we kept), and any
# other text still encodes through the 256 byte tokens. Ids are renumbered densely; the 26 special tokens follow.
import json
import re

# The Qwen pre-tokenizer regex restricted to ASCII (the task texts are ASCII): \p{L} = [A-Za-z], \p{N} = [0-9].
_PRE = re.compile(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\nA-Za-z0-9]?[A-Za-z]+|[0-9]| ?[^\sA-Za-z0-9]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def byte_alphabet():
    bs = list(range(ord('!'), ord('~') + 1)) + list(range(ord('¡'), ord('¬') + 1)) + list(range(ord('®'), ord('ÿ') + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


BYTES = byte_alphabet()


class BPE:
    def __init__(self, tok_json):
        m = tok_json['model']
        self.vocab = m['vocab']
        merges = [tuple(x) if isinstance(x, list) else tuple(x.split(' ')) for x in m['merges']]
        self.merges = merges
        self.rank = {p: i for i, p in enumerate(merges)}
        self.special = {a['content']: a['id'] for a in tok_json['added_tokens']}
        self._special_re = re.compile('(' + '|'.join(re.escape(s) for s in sorted(self.special, key=len, reverse=True)) + ')')
        self.used = set()

    def word(self, w):
        parts = [BYTES[b] for b in w.encode('utf-8')]
        while len(parts) > 1:
            best = min(((self.rank.get((parts[i], parts[i + 1]), 1 << 60), i) for i in range(len(parts) - 1)))
            if best[0] == 1 << 60:
                break
            i = best[1]
            pair = (parts[i], parts[i + 1])
            self.used.add(self.rank[pair])
            # merge every occurrence of the pair, left to right (as HF BPE does)
            out, j = [], 0
            while j < len(parts):
                if j < len(parts) - 1 and (parts[j], parts[j + 1]) == pair:
                    out.append(parts[j] + parts[j + 1])
                    j += 2
                else:
                    out.append(parts[j])
                    j += 1
            parts = out
        return parts

    def encode(self, text):
        ids = []
        for chunk in self._special_re.split(text):
            if not chunk:
                continue
            if chunk in self.special:
                ids.append(self.special[chunk])
                continue
            for w in _PRE.findall(chunk):
                ids.extend(self.vocab[p] for p in self.word(w))
        return ids

    def decode(self, ids):
        inv = {v: k for k, v in self.vocab.items()}
        inv.update({v: k for k, v in self.special.items()})
        byte_of = {c: b for b, c in BYTES.items()}
        out = bytearray()
        for i in ids:
            s = inv.get(i)
            if s is None:  # a padding row of the embedding (vocab_size is rounded up): no text
                continue
            if s in self.special:
                out += s.encode()
            else:
                out += bytes(byte_of[c] for c in s)
        return out.decode('utf-8', errors='replace')


def prune(full_json, texts):
    """A pruned tokenizer.json (dict) whose BPE splits `texts` as the full one does."""
    full = BPE(full_json)
    for t in texts:
        full.encode(t)
    keep_merges = [full.merges[r] for r in sorted(full.used)]
    keep = set(BYTES.values()) | {a + b for a, b in keep_merges}
    old = full_json['model']['vocab']
    tokens = sorted(keep, key=lambda s: old[s])
    vocab = {s: i for i, s in enumerate(tokens)}
    added = []
    for a in full_json['added_tokens']:
        added.append({**a, 'id': len(vocab) + len(added)})
    out = dict(full_json)
    out['model'] = {**full_json['model'], 'vocab': vocab, 'merges': [list(p) for p in keep_merges]}
    out['added_tokens'] = added
    return out


def tokenizer_config(tok, full_config):
    """tokenizer_config.json for the pruned ids (added_tokens_decoder renumbered)."""
    cfg = {k: v for k, v in full_config.items() if k not in ('added_tokens_decoder', 'chat_template')}
    cfg['added_tokens_decoder'] = {str(a['id']): {k: a[k] for k in ('content', 'lstrip', 'normalized', 'rstrip', 'single_word', 'special')} for a in tok['added_tokens']}
    cfg['model_max_length'] = 4096
    return cfg


def load(path):
    return BPE(json.load(open(path)))
