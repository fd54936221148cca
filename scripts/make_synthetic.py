"""Write the seeded synthetic sessions (known ground truth) as behavenet session files.

    python scripts/make_synthetic.py place_cells out/place_cells.h5 --seed 0 --set n_frames=10000
    python scripts/make_synthetic.py multimodal out/multimodal.h5
    python scripts/make_synthetic.py social out/social.h5 --set n_animals=3 --set n_sequences=40

Generators and their parameters: behavenet/data/synthetic.py.
"""

from __future__ import annotations

import argparse
import ast
import sys

from behavenet.data.format import validate_file
from behavenet.data.synthetic import GENERATORS, generate
from behavenet.errors import BehavenetError, one_line


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("kind", choices=sorted(GENERATORS))
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="generator keyword argument (repeatable)"
    )
    p.add_argument("--overwrite", action="store_true")
    args = p.parse_args(argv)
    params = {"seed": args.seed}
    for item in args.set:
        key, _, value = item.partition("=")
        try:
            params[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            params[key] = value
    try:
        path = generate(args.kind, args.out, overwrite=args.overwrite, **params)
    except BehavenetError as err:
        print(f"make_synthetic.py: error: {one_line(err)}", file=sys.stderr)
        return 2
    except TypeError as err:  # an unknown --set key
        print(f"make_synthetic.py: error: --set: {err}", file=sys.stderr)
        return 2
    s = validate_file(path)
    print(
        f"wrote {path}: {s['n_frames']} frames, {s['n_trials']} trials, {', '.join(s['modalities'])}; "
        f"labels {s['frame_labels'] + s['sequence_labels']}"
    )


if __name__ == "__main__":
    sys.exit(main())
