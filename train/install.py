# Put a training run's output into the repository: the checkpoint → assets/qwen3-vl-demo, the demo pictures and
# clip → assets/demo, the held-out accuracy set → bench/accuracy/{questions.json, media/}.
#   python3 train/install.py OUT
import os
import shutil
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')


def replace(src, dst):
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)


def main():
    out = sys.argv[1]
    replace(os.path.join(out, 'qwen3-vl-demo'), os.path.join(ROOT, 'assets', 'qwen3-vl-demo'))
    replace(os.path.join(out, 'demo'), os.path.join(ROOT, 'assets', 'demo'))
    acc = os.path.join(ROOT, 'bench', 'accuracy')
    replace(os.path.join(out, 'accuracy'), os.path.join(acc, 'media'))
    shutil.move(os.path.join(acc, 'media', 'questions.json'), os.path.join(acc, 'questions.json'))
    print('installed into assets/qwen3-vl-demo, assets/demo, bench/accuracy')


if __name__ == '__main__':
    main()
