# Write train/tokenizer/ (tokenizer.json, tokenizer_config.json): the Qwen tokenizer pruned to the task texts.
#   python3 train/prune_tokenizer.py [path/to/qwen/tokenizer folder]   (default: the unpacked vendored fixtures)
import glob
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import tasks  # noqa: E402
from tokenizer import BPE, prune, tokenizer_config  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    if len(sys.argv) > 1:
        src = sys.argv[1]
    else:
        hits = sorted(glob.glob(os.path.join(HERE, '..', 'node_modules', '.cache', 'qwen3-vl-fixtures', '*', 'tokenizer')))
        if not hits:
            sys.exit('no Qwen tokenizer: run `npx vite-node test/fixtures/unpack.ts` first, or pass its folder')
        src = hits[-1]
    full = json.load(open(os.path.join(src, 'tokenizer.json')))
    texts = tasks.corpus_texts()
    tok = prune(full, texts)
    out = os.path.join(HERE, 'tokenizer')
    os.makedirs(out, exist_ok=True)
    json.dump(tok, open(os.path.join(out, 'tokenizer.json'), 'w'), ensure_ascii=False, indent=1)
    json.dump(tokenizer_config(tok, json.load(open(os.path.join(src, 'tokenizer_config.json')))), open(os.path.join(out, 'tokenizer_config.json'), 'w'), ensure_ascii=False, indent=2)
    # The pruned BPE must split every task text exactly as the full one does.
    a, b = BPE(full), BPE(tok)
    for t in texts:
        fa, fb = a.encode(t), b.encode(t)
        ia = {v: k for k, v in full['model']['vocab'].items()}
        ia.update({v: k for k, v in a.special.items()})
        ib = {v: k for k, v in tok['model']['vocab'].items()}
        ib.update({v: k for k, v in b.special.items()})
        assert [ia[i] for i in fa] == [ib[i] for i in fb], t
    print(f'{len(tok["model"]["vocab"])} tokens + {len(tok["added_tokens"])} special, {len(tok["model"]["merges"])} merges, {len(texts)} texts checked')


if __name__ == '__main__':
    main()
