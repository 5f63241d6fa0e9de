"""The published table in ``vaelab report DIR`` when ``DIR`` is a ``vaelab reproduce`` folder:
the paper's number beside vaelab's for every row, the difference, both error bars, the epochs
done against the schedule's, the training time and the machine; a row that has not finished
shows its status and the command that continues it, never a number. The rows' run directories
that hold a model follow as ordinary run sections. Every pair of finished rows is compared
image by image, the paper's difference beside vaelab's (``row_differences``)."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path

from vaelab.errors import ConfigError
from vaelab.eval import paired_difference
from vaelab.reproduce.table import done_status, seed_mean_per_image
from vaelab.training.rundir import RunDir
from vaelab.viz import published_figure

TABLE_FILE = "table.json"  # written by ``vaelab reproduce`` (vaelab.reproduce.table)
_ROW_KEYS = ("row", "label", "published", "epochs", "schedule_epochs", "status")
_DONE_KEYS = ("nll", "nll_stderr", "nll_mc_stderr", "diff", "eval_k", "eval_examples")


def is_reproduction(path: Path) -> bool:
    """A ``vaelab reproduce --out`` folder (its table, no run of its own)."""
    return (path / TABLE_FILE).is_file() and not (path / "config.json").is_file()


def read_table(path: Path) -> dict:
    """``path/table.json``, checked: one line naming the damage if it is not a whole table."""
    f = path / TABLE_FILE
    try:
        doc = json.loads(f.read_text())
        rows = doc["rows"]
        for r in rows:
            missing = [k for k in _ROW_KEYS + (_DONE_KEYS if r["status"] == "done" else ())
                       if k not in r]
            if missing:
                raise KeyError(missing[0])
        doc["title"]  # noqa: B018
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"{f} is damaged ({type(e).__name__}: {e}); write it again with "
                          f"`vaelab reproduce TABLE --out {path} --no-train`") from None
    return doc


def row_runs(path: Path, doc: dict) -> list[Path]:
    """The rows' run directories (every seed's) that hold a model, in the table's order."""
    dirs = [path / Path(s["run"]).name  # where the folder is now
            for r in doc["rows"] for s in r.get("seeds", [{"run": r["row"]}])]
    return [d for d in dirs if RunDir(d).has_checkpoint]


def _row_evaluation(path: Path, r: dict) -> dict | None:
    """A finished row as one evaluation for ``paired_difference``: each test image's L_K,
    averaged over the row's seeds, with the row's errors; None if a score file is missing,
    damaged, or scored other images."""
    runs = [path / Path(s["run"]).name for s in r.get("seeds", [{"run": r["row"]}])]
    try:
        scores = [json.loads((d / "reproduce.json").read_text()) for d in runs]
        first, k = scores[0], str(scores[0]["nll_k"])
        if any((s.get("data"), s["per_example_index"], str(s["nll_k"]))
               != (first.get("data"), first["per_example_index"], k) for s in scores):
            return None
        each = seed_mean_per_image(scores)
        return {"data": first.get("data"), "split": first.get("split"),
                "per_example_index": first["per_example_index"], "nll_k": first["nll_k"],
                "per_example": {k: each.tolist()}, "nll_stderr": float(r["nll_stderr"]),
                "nll_mc_stderr": float(r["nll_mc_stderr"])}
    except (OSError, ValueError, KeyError, TypeError, IndexError, RuntimeError):
        return None


def row_differences(path: Path, doc: dict) -> list[dict]:
    """Every pair of finished rows (a before b in the table): the paper's NLL_b - NLL_a beside
    vaelab's, paired image by image (``paired_difference``: all rows are scored on the same
    test images), with its errors over the images, Monte Carlo and, where a row has several
    seeds, over seeds (the two rows' standard errors over seeds combined). A gain the paper
    claims (the VampPrior's over the standard prior, say) is checked with an error far below
    either row's own. Pairs whose per-image values are missing are left out."""
    done = [r for r in doc["rows"] if r["status"] == "done"]
    evals = {r["row"]: _row_evaluation(path, r) for r in done}
    out = []
    for i, a in enumerate(done):
        for b in done[i + 1:]:
            ea, eb = evals[a["row"]], evals[b["row"]]
            d = paired_difference(ea, eb) if ea and eb else None
            if d is None:
                continue
            seeds = [r["nll_seed_stderr"] for r in (a, b) if r.get("nll_seed_stderr") is not None]
            out.append({"a": a["row"], "b": b["row"], "a_label": a["label"],
                        "b_label": b["label"], "paper": b["published"] - a["published"],
                        "vaelab": d["diff"], "stderr": d["stderr"], "mc_stderr": d["mc_stderr"],
                        "seed_stderr": math.hypot(*seeds) if seeds else None,
                        "n_examples": d["n_examples"]})
    return out


def _differences_html(diffs: list[dict]) -> str:
    head = ["b − a", "paper", "vaelab (paired)", "± test images", "± Monte Carlo", "± seeds",
            "vaelab − paper"]
    rows = "".join(
        "<tr>" + f'<td class="l">{html.escape(d["b_label"])} − {html.escape(d["a_label"])}</td>'
        + "".join(f"<td>{c}</td>" for c in (
            f"{d['paper']:+.2f}", f"{d['vaelab']:+.2f}", _f(d["stderr"]), _f(d["mc_stderr"], 3),
            "–" if d["seed_stderr"] is None else _f(d["seed_stderr"]),
            f"{d['vaelab'] - d['paper']:+.2f}")) + "</tr>" for d in diffs)
    return ("<h3>Differences between rows</h3><table><tr>"
            + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>" + rows + "</table>"
            '<p class="note">NLL of row b minus NLL of row a, in nats: the paper\'s, and '
            "vaelab's averaged image by image over the same test images, so that what the two "
            "rows share cancels: ± test images is the standard error of the per-image "
            "differences, far below either row's own. The paper's numbers carry errors it does "
            "not report.</p>")


def _f(v: float, digits: int = 2) -> str:
    return f"{v:.{digits}f}"


def published_table_html(doc: dict, path: Path) -> str:
    """The table section (see the module docstring)."""
    head = ["row", "paper", "vaelab", "difference", "± test images", "± Monte Carlo",
            "± seeds", "epochs", "training (h)", "status"]
    body, todo = [], []
    for r in doc["rows"]:
        epochs = f"{r['epochs']} of {r['schedule_epochs']}"
        hours = _f(r.get("train_hours", 0.0))
        if r["status"] == "done":
            status = done_status(r)
            if not r.get("paper_protocol", True):
                status += (f"; K = {r['eval_k']}, {r['eval_examples']} images: not the "
                           "paper's protocol")
            seeds = r.get("nll_seed_stderr")
            cells = [_f(r["nll"]), f"{r['diff']:+.2f}", _f(r["nll_stderr"]),
                     _f(r["nll_mc_stderr"], 3), "–" if seeds is None else _f(seeds)]
        else:
            status = r["status"]
            cells = ["–"] * 5
            if r.get("command"):
                todo.append(r["command"])
        body.append([r["label"], _f(r["published"]), *cells, epochs, hours, status])

    left = ' class="l"'  # the text columns, row and status

    def tr(tag: str, cells: list[str]) -> str:
        return "<tr>" + "".join(f"<{tag}{left * (i in (0, len(head) - 1))}>"
                                f"{html.escape(c)}</{tag}>" for i, c in enumerate(cells)) + "</tr>"

    table = "<table>" + tr("th", head) + "".join(tr("td", b) for b in body) + "</table>"
    notes = ["Test negative log-likelihood in nats (lower is better). ± test images: standard "
             "error over the test images; ± Monte Carlo: Monte Carlo error of the K-sample "
             "estimate; ± seeds: standard error of the mean over seeds. With several seeds "
             "a row's number is their mean, ± test images the standard error over the images "
             "of each image's mean over seeds, and epochs those every seed has done. A row "
             "shows a number only once its schedule has finished (every epoch, or early "
             "stopping) for every seed and it has been scored."]
    for label, key in (("source", "citation"), ("data", "data_note"), ("machine", "machine")):
        values = list(dict.fromkeys(r[key] for r in doc["rows"] if r.get(key)))
        if values:
            notes.append(f"{label}: " + "; ".join(values))
    parts = [f'<h2 id="published">Published table: {html.escape(doc["title"])}</h2>',
             f'<p class="note">{html.escape(str(path))}</p>', table,
             "".join(f'<p class="note">{html.escape(n)}</p>' for n in notes)]
    if any(r["status"] == "done" for r in doc["rows"]):
        from vaelab.report.page import png_uri

        parts.append(f'<img class="fig" src="{png_uri(published_figure(doc["rows"]))}" '
                     'alt="vaelab minus the paper, every finished row">')
        diffs = row_differences(path, doc)
        if diffs:
            parts.append(_differences_html(diffs))
    if todo:
        parts.append("<p>To continue the unfinished rows:</p><pre>" +
                     html.escape("\n".join(todo)) + "</pre>")
    return "\n".join(parts)
