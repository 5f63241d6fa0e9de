"""The differences between the finished rows of a ``vaelab reproduce`` folder, the paper's
beside vaelab's, paired image by image (``vaelab.report.published.row_differences``; the same
table ``vaelab report DIR`` shows):

    python benchmarks/row_differences.py runs/tomczak2018
"""

import sys
from pathlib import Path

from vaelab.report.published import read_table, row_differences


def main() -> None:
    path = Path(sys.argv[1])
    doc = read_table(path)
    print(f"{doc['title']}: NLL of row b minus row a, nats; ± over test images (paired), "
          "± Monte Carlo, ± seeds")
    for d in row_differences(path, doc):
        seeds = "" if d["seed_stderr"] is None else f" ± {d['seed_stderr']:.2f}"
        print(f"{d['b']:>14} - {d['a']:<14} paper {d['paper']:+6.2f}   vaelab "
              f"{d['vaelab']:+6.2f} ± {d['stderr']:.2f} ± {d['mc_stderr']:.3f}{seeds}   "
              f"vaelab - paper {d['vaelab'] - d['paper']:+.2f}  ({d['n_examples']} images)")


if __name__ == "__main__":
    main()
