# Writing what train.py produces: PNG files of the generated pictures and clips, and a checkpoint in the Hub layout
# (safetensors weights, config.json, generation, image and video preprocessor configs, the pruned tokenizer).
import json
import os
import struct
import zlib

import st
import tasks


def png(path, img):
    h, w, _ = img.shape
    raw = b''.join(b'\x00' + img[y].tobytes() for y in range(h))

    def chunk(t, d):
        return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xFFFFFFFF)
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0)) + chunk(b'IDAT', zlib.compress(raw, 9)) + chunk(b'IEND', b''))


def write_media(s, folder, name):
    """PNG files of a sample's media; returns the JSON fields naming them (relative to `folder`)."""
    os.makedirs(folder, exist_ok=True)
    if 'video' in s:
        files = []
        os.makedirs(os.path.join(folder, name), exist_ok=True)
        for k, fr in enumerate(s['video']):
            files.append(f'{name}/f{k:02d}.png')
            png(os.path.join(folder, files[-1]), fr)
        return {'video': files, 'fps': tasks.VID_FPS}
    files = []
    for k, im in enumerate(s['images']):
        files.append(f'{name}-{k}.png' if len(s['images']) > 1 else f'{name}.png')
        png(os.path.join(folder, files[-1]), im)
    return {'images': files}


def write_checkpoint(out, model, cfg, tok_dir):
    os.makedirs(out, exist_ok=True)
    sd = {k: v for k, v in model.state_dict().items() if k != 'lm_head.weight'}
    st.save(os.path.join(out, 'model.safetensors'), sd)
    json.dump(cfg, open(os.path.join(out, 'config.json'), 'w'), indent=2)
    sp = cfg['text_config']
    json.dump({'bos_token_id': sp['bos_token_id'], 'eos_token_id': [sp['eos_token_id'], sp['bos_token_id']], 'pad_token_id': sp['bos_token_id'],
               'do_sample': False, 'max_new_tokens': 64}, open(os.path.join(out, 'generation_config.json'), 'w'), indent=2)
    pre = {'patch_size': 16, 'temporal_patch_size': 2, 'merge_size': 2, 'image_mean': [0.5] * 3, 'image_std': [0.5] * 3,
           'do_resize': True, 'resample': 3, 'do_rescale': True, 'rescale_factor': 1 / 255, 'do_normalize': True, 'do_convert_rgb': True,
           'processor_class': 'Qwen3VLProcessor'}
    # Pixel bounds: what the model was trained on (192×192 pictures, 12 frames of 128×128), so inputs are scaled there.
    json.dump({**pre, 'size': {'shortest_edge': tasks.IMG * tasks.IMG, 'longest_edge': tasks.IMG * tasks.IMG},
               'image_processor_type': 'Qwen2VLImageProcessorFast'}, open(os.path.join(out, 'preprocessor_config.json'), 'w'), indent=2)
    json.dump({**pre, 'size': {'shortest_edge': tasks.VID * tasks.VID * tasks.VID_FRAMES, 'longest_edge': tasks.VID * tasks.VID * tasks.VID_FRAMES},
               'fps': 2, 'min_frames': 4, 'max_frames': 768, 'do_sample_frames': True, 'video_processor_type': 'Qwen3VLVideoProcessor'},
              open(os.path.join(out, 'video_preprocessor_config.json'), 'w'), indent=2)
    for f in ('tokenizer.json', 'tokenizer_config.json', 'chat_template.jinja'):
        with open(os.path.join(tok_dir, f), 'rb') as a, open(os.path.join(out, f), 'wb') as b:
            b.write(a.read())
