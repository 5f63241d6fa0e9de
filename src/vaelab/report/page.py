"""``vaelab report``: one self-contained HTML page about one run or a comparison of several.

Everything is in the file (images as PNG data URIs, a few lines of plain JavaScript for the
latent explorer), so it opens from disk with no server and no network. Per run: configuration,
training curves, the evaluation table and L_K against K, samples, reconstructions (grouped in
pairs), per-dimension KL with the active units marked, latent traversals labelled by dimension,
a latent explorer (sliders over the highest-KL dimensions, images from a precomputed grid), and,
when the run directory holds them, the gradient SNR study, the information bracket and any
AIS/BDMC/gap tables. Several runs add a comparison table and overlaid curves. A ``vaelab
reproduce`` folder adds its published table (``vaelab.report.published``) before its rows' runs.
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.image import imsave

from vaelab._version import __version__
from vaelab.errors import ConfigError
from vaelab.eval import evaluate, paired_difference, subset_index
from vaelab.eval.active_units import latent_activity
from vaelab.eval.traverse import traversal
from vaelab.report.published import (
    is_reproduction,
    published_table_html,
    read_table,
    row_runs,
)
from vaelab.training.run import Run, load_run
from vaelab.viz import (
    bounds_figure,
    grid,
    latent_activity_figure,
    pair_grid,
    snr_figure,
    training_curves_figure,
    traversal_figure,
)

EXPLORER_STEPS = 7
EXPLORER_VALUES = [-2.5 + 5.0 * i / (EXPLORER_STEPS - 1) for i in range(EXPLORER_STEPS)]

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .5em 0 1em; font-size: .9em; }
td, th { border: 1px solid #ddd; padding: .25em .6em; text-align: right; }
.summary table { font-size: 1.05em; } .summary td:first-child { font-weight: 600; }
details { margin: .5em 0; } summary { cursor: pointer; color: #444; }
pre { white-space: pre-wrap; word-break: break-word; }
th { background: #f4f4f4; } td.l, th.l { text-align: left; }
img.fig { max-width: 100%; } .note { color: #666; font-size: .9em; }
.explorer { display: flex; gap: 2em; align-items: center; }
.explorer img { width: 196px; image-rendering: pixelated; border: 1px solid #ccc; }
.explorer label { display: block; margin: .4em 0; font-family: monospace; }
pre { background: #f7f7f7; padding: .6em; overflow-x: auto; font-size: .8em; }
"""

JS = """
document.querySelectorAll('.explorer').forEach(function (box) {
  var sliders = box.querySelectorAll('input[type=range]');
  var img = box.querySelector('img');
  var steps = parseInt(box.dataset.steps, 10);
  var values = JSON.parse(box.dataset.values);
  function show() {
    var idx = 0;
    sliders.forEach(function (s) {
      idx = idx * steps + parseInt(s.value, 10);
      s.nextElementSibling.textContent = values[parseInt(s.value, 10)].toFixed(2);
    });
    img.src = EXPLORER[box.id][idx];
  }
  sliders.forEach(function (s) { s.addEventListener('input', show); });
  show();
});
"""


def png_uri(obj, nrow: int = 10) -> str:
    """A data URI of a Matplotlib figure, an ``[H, W, C]`` picture, or a grid of images
    ``[N, C, H, W]``."""
    buf = io.BytesIO()
    if isinstance(obj, Figure):
        obj.savefig(buf, format="png", dpi=90)
    else:
        g = obj if isinstance(obj, np.ndarray) and obj.ndim == 3 else grid(obj, None, nrow)
        scale = max(1, 96 // g.shape[1]) if len(obj) == 1 else 2  # one image: ~96 px wide
        g = np.kron(g, np.ones((scale, scale, 1), dtype=np.float32))
        if g.shape[2] == 1:
            imsave(buf, g[..., 0], cmap="gray", vmin=0, vmax=1, format="png")
        else:
            imsave(buf, g[..., :3], format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _img(uri: str, alt: str, cls: str = "fig") -> str:
    return f'<img class="{cls}" alt="{html.escape(alt)}" src="{uri}">'


def _table(rows: list[list], head: list[str]) -> str:
    def cell(v, tag):
        cls = ' class="l"' if isinstance(v, str) else ""
        text = _num(v) if isinstance(v, float) else html.escape(str(v))
        return f"<{tag}{cls}>{text}</{tag}>"

    out = ["<table><tr>" + "".join(cell(h, "th") for h in head) + "</tr>"]
    out += ["<tr>" + "".join(cell(v, "td") for v in r) + "</tr>" for r in rows]
    return "".join(out) + "</table>"


def _num(v: float) -> str:
    """One precision for a table: 3 decimals (nats), or 3 significant digits for small and
    very large magnitudes."""
    if v != v or v in (float("inf"), float("-inf")):
        return str(v)
    if v == 0 or 1e-2 <= abs(v) < 1e5:
        return f"{v:.3f}"
    return f"{v:.3g}"


def _flat(d: dict, prefix: str = "") -> list[list]:
    rows = []
    for k, v in d.items():
        if isinstance(v, dict):
            rows += _flat(v, f"{prefix}{k}.")
        elif not isinstance(v, list):
            rows.append([f"{prefix}{k}", v])
    return rows


def _metrics(run: Run) -> list[dict]:
    from vaelab.training.rundir import RunDir

    return RunDir(run.path).read_metrics()


class Section:
    """What the page shows about one run; each part only when it applies to the model."""

    def __init__(self, run: Run, index: int, eval_n: int, seed: int) -> None:
        self.run, self.index, self.eval_n, self.seed = run, index, eval_n, seed
        self.name = run.path.name
        self.metrics = _metrics(run)
        self.explorer: tuple[str, list[str]] | None = None  # (element id, image URIs)
        self.eval = self._evaluation()

    def _evaluation(self) -> dict:
        # a published row's score (`vaelab reproduce`) first, then `vaelab eval`'s
        for name, tool in (("reproduce.json", "vaelab reproduce"), ("eval-test.json",
                                                                    "vaelab eval")):
            path = self.run.path / name
            if not path.is_file():
                continue
            try:
                ev = _checked_evaluation(json.loads(path.read_text()))
                ev["source"] = f"from {path.name} (`{tool}`)"
                return ev
            except DAMAGE as e:
                warnings.warn(f"{path} is damaged ({type(e).__name__}); the report evaluates "
                              "the run itself", stacklevel=2)
        test = self.run.split("test")
        index = subset_index(len(test), self.eval_n, self.seed)
        ev = evaluate(self.run.model, test[index], (1, 5, 50), seed=self.seed,
                      binarize=self.run.data.dynamic_binarize)
        ev.update(data=self.run.data.name, split="test", per_example_index=index.tolist(),
                  source=f"computed for this report on {len(index)} random test examples with "
                  "K up to 50 (run `vaelab eval` for K = 5000 on the whole split)")
        return ev

    def test_images(self, n: int) -> torch.Tensor:
        return self.run.examples("test", n, self.seed)

    def html(self) -> str:
        run, model = self.run, self.run.model
        caps = model.capabilities
        parts = [f'<h2 id="run-{self.index}">{html.escape(self.name)}</h2>',
                 self._summary_html(),
                 "<details><summary>Configuration (config.json)</summary><pre>" +
                 html.escape(json.dumps(run.config.to_dict(), indent=1)) + "</pre></details>"]
        if self.metrics:
            parts.append("<h3>Training</h3>" + _img(png_uri(training_curves_figure(
                {self.name: self.metrics})), "training curves"))
        parts.append(self._evaluation_html())
        torch.manual_seed(self.seed)
        n = 16 if caps.autoregressive_decoder else 40
        parts.append("<h3>Samples</h3>" + _img(png_uri(model.sample(n), 10), "samples"))
        x = self.test_images(8 if caps.autoregressive_decoder else 16)
        parts.append("<h3>Reconstructions</h3><p class=\"note\">Each test image above its "
                     "reconstruction.</p>" + _img(png_uri(pair_grid(
                         x.cpu(), model.reconstruct(x).cpu(), 8)), "reconstructions"))
        if caps.latent == "continuous" and caps.gaussian_posterior:
            parts.append(self._latent_html())
        parts.append(self._files_html())
        return "\n".join(parts)

    def _summary_html(self) -> str:
        """The answer first: what was trained on what, its NLL with both errors, bits/dim,
        active units, epochs and training time."""
        run, ev = self.run, self.eval
        spec = run.doc["model"]
        cfg = run.config
        epochs = self.metrics[-1]["epoch"] if self.metrics else 0
        hours = sum(m.get("epoch_seconds", 0.0) for m in self.metrics) / 3600
        nll = (f"{ev['nll']:.2f} nats ± {ev['nll_stderr']:.2f} (test examples)"
               + (f" ± {ev['nll_mc_stderr']:.3f} (Monte Carlo)" if "nll_mc_stderr" in ev
                  else "") + f", K = {ev['nll_k']}, {ev['n_examples']} examples")
        rows = [["model", f"{spec.get('name') or spec['class']} ({cfg.objective.objective}, "
                          f"{cfg.estimator.estimator}, K = {cfg.estimator.k})"],
                ["data", f"{run.data.name} {list(run.model.x_shape)}, {run.likelihood} "
                         "likelihood"],
                ["test NLL", nll]]
        preset = run.doc.get("preset")
        if preset and preset.get("published_nll") is not None:
            rows.append(["paper", f"{preset['published_nll']:.2f} nats ({preset['name']}: "
                                  f"{preset.get('citation', '')})"])
        if "bits_per_dim" in ev:
            rows.append(["bits per dimension", f"{ev['bits_per_dim']:.4f}"])
        if ev.get("active_units_per_layer"):
            from vaelab.eval.active_units import ACTIVE_LABEL

            rows.append(["active units", f"{ev['active_units']} {ev['active_units_per_layer']}"
                                         f" ({ACTIVE_LABEL})"])
        rows.append(["training", f"{epochs} of {cfg.optim.epochs} epochs, {hours:.2f} h"])
        return ('<div class="summary">' + _table(rows, ["", ""]).replace(
            "<tr><th class=\"l\"></th><th class=\"l\"></th></tr>", "") +
            f'<p class="note">{html.escape(str(run.path))} · NLL {html.escape(ev["source"])}'
            "</p></div>")

    def _evaluation_html(self) -> str:
        ev = self.eval
        rows = [[f"L_{k}", v, ev["bounds_stderr"][k]] for k, v in ev["bounds"].items()]
        text = (f"<h3>Evaluation</h3><p class=\"note\">{html.escape(ev['source'])}. &plusmn; is "
                "the standard error over test examples; L_k for k &lt; K reuses the K draws in "
                "disjoint groups.</p>" + _table(rows, ["bound", "nats", "std. error"]))
        summary = [["NLL = -L_" + str(ev["nll_k"]), ev["nll"]],
                   ["standard error over examples", ev["nll_stderr"]]]
        if "nll_mc_stderr" in ev:
            summary.append([f"Monte Carlo error ({ev.get('mc_method', 'delta method')})",
                            ev["nll_mc_stderr"]])
        if "bits_per_dim" in ev:
            summary.append(["bits per dimension", ev["bits_per_dim"]])
        if "exact_nll" in ev:
            summary.append([f"exact NLL (sum over all {ev['exact_configurations']} latent "
                            "values)", ev["exact_nll"]])
        if ev.get("active_units_per_layer"):
            summary.append(["active units", f"{ev['active_units']} "
                                            f"{ev['active_units_per_layer']}"])
        return (text + _table(summary, ["", "value"]) +
                _img(png_uri(bounds_figure({self.name: ev})), "L_K against K"))

    def _latent_html(self) -> str:
        run, model = self.run, self.run.model
        act = latent_activity(model, run.split("test")[:500])
        values = act.kl if act.kl is not None else act.variance
        parts = ["<h3>Latent code</h3>" + _img(png_uri(latent_activity_figure(
            values.tolist(), act.active.tolist(), "kl" if act.kl is not None else "variance")),
            "per-dimension activity")]
        if len(model.latent_sizes) != 1:
            return parts[0] + '<p class="note">Traversals and the explorer need one latent ' \
                'layer.</p>'
        order = act.ranked()
        x = self.test_images(1)
        span_dims = order[: min(6, len(order))]
        steps = [-3.0, -1.5, 0.0, 1.5, 3.0] if model.capabilities.autoregressive_decoder \
            else [-3 + 6 * i / 8 for i in range(9)]
        torch.manual_seed(self.seed)
        img = traversal(model, x, span_dims, len(steps), 3.0)
        parts.append(_img(png_uri(traversal_figure(img.cpu(), span_dims, steps)),
                          "latent traversals"))
        parts.append(self._explorer(x, order))
        return "\n".join(parts)

    def _explorer(self, x: torch.Tensor, order: list[int]) -> str:
        model = self.run.model
        n_dims = min(2 if model.capabilities.autoregressive_decoder else 3, len(order))
        dims = order[:n_dims]
        z0 = model.posterior(x).mean[0]
        z = z0.repeat(EXPLORER_STEPS ** n_dims, 1)
        for row, combo in enumerate(itertools.product(range(EXPLORER_STEPS), repeat=n_dims)):
            for d, i in zip(dims, combo):
                z[row, d] = EXPLORER_VALUES[i]
        torch.manual_seed(self.seed)
        with torch.no_grad():
            images = model.generate(z).cpu()
        uris = [png_uri(images[i:i + 1], 1) for i in range(len(images))]
        key = f"explorer-{self.index}"
        start = [min(range(EXPLORER_STEPS), key=lambda i: abs(EXPLORER_VALUES[i] - float(z0[d])))
                 for d in dims]
        sliders = "".join(
            f'<label>z[{d}] <input type="range" min="0" max="{EXPLORER_STEPS - 1}" step="1" '
            f'value="{s}" aria-label="latent dimension {d}"><span></span></label>'
            for d, s in zip(dims, start))
        self.explorer = (key, uris)
        return (f"<h3>Latent explorer</h3><p class=\"note\">The {n_dims} dimensions of largest "
                "KL, each over 7 values in [-2.5, 2.5]; the others at the posterior mean of "
                "one test image. Images are precomputed (no server).</p>"
                f'<div class="explorer" id="{key}" data-steps="{EXPLORER_STEPS}" '
                f'data-values="{json.dumps(EXPLORER_VALUES)}">'
                f'<img alt="decoded latent point" src="{uris[0]}"><div>{sliders}</div></div>')

    def _files_html(self) -> str:
        path = self.run.path
        return "\n".join(_guarded(path, f) for f in (self._gradients_html, self._info_html,
                                                       _ais_html, _bdmc_html, _gaps_html))

    def _gradients_html(self, path: Path) -> str:
        parts = []
        if (path / "gradients.json").is_file():
            rows = json.loads((path / "gradients.json").read_text())
            table = [[r["estimator"], r["baseline"], r["k"], r["encoder"]["snr"],
                      r["encoder"]["total_variance"], r["decoder"]["snr"]] for r in rows]
            parts.append("<h3>Gradient estimators</h3>" + _table(
                table, ["estimator", "baseline", "K", "encoder SNR", "encoder variance",
                        "decoder SNR"]) + _img(png_uri(snr_figure(rows)), "gradient SNR"))
        return "\n".join(parts)

    def _info_html(self, path: Path) -> str:
        parts = []
        info = next((path / f"info-{s}.json" for s in ("test", "valid", "train")
                     if (path / f"info-{s}.json").is_file()), None)
        if info is not None:
            d = json.loads(info.read_text())

            def v(k):
                e = d.get(k) or d.get(k + "_layer1_prior_n01") or {}
                return e.get("value", float("nan")) if isinstance(e, dict) else e

            rows = [["I(z;x) lower bound (InfoNCE, at most log n)", v("mi_kl_form")],
                    ["I(z;x) upper bound (leave one out)", v("mi_upper")],
                    ["I(z;x) under the model's joint, lower bound (Barber-Agakov)",
                     v("mi_generative_lower")],
                    ["log n", d.get("max_mi_log_n")], ["rate E KL(q(z|x)||p(z))", v("rate")],
                    ["KL(q(z)||p(z))", v("kl_aggregate_prior")], ["distortion", v("distortion")]]
            parts.append(f"<h3>Information ({info.name})</h3>" + _table(rows, ["nats", "value"]))
        return "\n".join(parts)


def _checked_evaluation(ev: dict) -> dict:
    """``ev`` if it holds what the page shows, as numbers; ValueError (damage) otherwise."""
    def number(v, what: str) -> None:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"{what} is not a number")

    bounds, errs = ev["bounds"], ev["bounds_stderr"]
    if not bounds or set(bounds) != set(errs):
        raise ValueError("bounds and their errors do not match")
    for k in bounds:
        int(k)
        number(bounds[k], f"L_{k}")
        number(errs[k], f"L_{k}'s error")
    for key in ("nll", "nll_stderr", "nll_k", "n_examples"):
        number(ev[key], key)
    for key in ("nll_mc_stderr", "bits_per_dim", "exact_nll"):
        if key in ev:
            number(ev[key], key)
    return ev


DAMAGE = (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError,
          AttributeError, IndexError)


def _guarded(path: Path, section) -> str:
    """One optional section from a file of the run; a damaged file leaves its section out with a
    warning (and a note on the page) instead of stopping the report."""
    try:
        return section(path)
    except DAMAGE as e:
        what = section.__name__.strip("_").replace("_html", "")
        warnings.warn(f"{path}: the {what} file is damaged ({type(e).__name__}: "
                      f"{str(e)[:120]}); its section is left out of the report", stacklevel=2)
        return (f'<p class="note">The {html.escape(what)} section is left out: its file in '
                f"the run directory is damaged ({html.escape(type(e).__name__)}).</p>")


def _first(path: Path, stem: str) -> Path | None:
    return next((path / f"{stem}-{s}.json" for s in ("test", "valid", "train")
                 if (path / f"{stem}-{s}.json").is_file()), None)


def _pm(r: dict) -> str:
    mc = r.get("mc_stderr", float("nan"))
    return f"{r['mean']:.3f} ± {r['stderr']:.3f}" + (f" ± {mc:.3f}" if mc == mc else "")


def _ais_html(path: Path) -> str:
    f = _first(path, "ais")
    if f is None:
        return ""
    d = json.loads(f.read_text())
    c = d["config"]
    rows = [["AIS log p(x) (a stochastic lower bound)", _pm(d)],
            ["settings", f"T={c['steps']} steps from the {c['init']}, {c['chains']} chains, "
                         f"{c['leapfrog']} leapfrog steps, {c['schedule']} schedule"],
            ["HMC acceptance rate", f"{d['acceptance']:.3f}"],
            ["examples", str(d["n_examples"])], ["seconds", f"{d['seconds']:.1f}"]]
    ev = path / f"eval-{d.get('split', 'test')}.json"
    try:  # the IS estimate beside it, when an intact evaluation is there
        e = json.loads(ev.read_text())
        rows.insert(1, [f"IS log p(x), K={e['nll_k']} (eval, {e['n_examples']} examples)",
                        f"{-e['nll']:.3f} ± {e['nll_stderr']:.3f} ± {e['nll_mc_stderr']:.3f}"])
    except (OSError, *DAMAGE):
        pass
    return (f"<h3>Annealed importance sampling ({f.name})</h3><p>nats; ± standard error over "
            "examples, then Monte Carlo error across chains.</p>" + _table(rows, ["", "value"]))


def _bdmc_html(path: Path) -> str:
    f = path / "bdmc.json"
    if not f.is_file():
        return ""
    d = json.loads(f.read_text())
    rows = [[r["steps"], _pm(r["lower"]), _pm(r["upper"]), _pm(r["gap"]), r["seconds"]]
            for r in d["rows"]]
    text = ""
    if "is" in d:
        i = d["is"]
        text = (f"<p>IS with K={i['k']} on the same data: {_pm(i)}; the true mean log p(x) lies "
                f"{i['below_lower']:.3f} to {i['below_upper']:.3f} nats above it.</p>")
    return (f"<h3>Bidirectional Monte Carlo ({f.name})</h3><p>{d['n_examples']} examples "
            "simulated from the model; forward AIS bounds log p(x) from below, reverse AIS from "
            "above (nats; ± standard error over examples, then Monte Carlo error).</p>"
            + _table(rows, ["AIS steps", "lower", "upper", "gap", "seconds"]) + text)


def _gaps_html(path: Path) -> str:
    f = _first(path, "gaps")
    if f is None:
        return ""
    d = json.loads(f.read_text())
    from vaelab.eval.gaps import row_label

    rows = [[row_label(name), r["mean"], r["stderr"], r["mc_stderr"]]
            if r.get("measured", True) else [row_label(name), "not measured", "", ""]
            for name, r in d["rows"].items()]
    if d.get("warning"):
        rows.append(["warning", html.escape(d["warning"]), "", ""])
    return (f"<h3>Inference gaps ({f.name})</h3><p>{d['n_examples']} examples, local q "
            f"{html.escape(d['family'])}, log p(x) from {html.escape(d['log_px_source'])}; "
            "approximation + amortization = total, per example.</p>"
            + _table(rows, ["nats", "mean", "stderr (examples)", "Monte Carlo error"]))


def comparison_html(sections: list[Section]) -> str:
    """The runs side by side; each NLL with its errors and, where a run was evaluated on the
    first run's images with its K, the paired difference to it (``paired_difference``)."""
    rows, first = [], sections[0].eval
    for s in sections:
        t, ev = s.run.config, s.eval
        best = max((v for r in s.metrics for k, v in r.items() if k.startswith("valid_L")),
                   default=float("nan"))
        nll = f"{ev['nll']:.2f} ± {ev['nll_stderr']:.2f}" + (
            f" ± {ev['nll_mc_stderr']:.3f}" if "nll_mc_stderr" in ev else "")
        d = paired_difference(first, ev) if s is not sections[0] else None
        vs = ("(reference)" if s is sections[0] else "—" if d is None else
              f"{d['diff']:+.2f} ± {d['stderr']:.2f} ± {d['mc_stderr']:.3f}")
        rows.append([s.name, t.model.model, t.objective.objective, t.estimator.estimator,
                     t.estimator.k, len(s.metrics), best, nll, f"K = {ev['nll_k']}, "
                     f"{ev['n_examples']}", vs, ev.get("bits_per_dim", float("nan")),
                     ev.get("active_units", "")])
    head = ["run", "model", "objective", "estimator", "K", "epochs", "best validation bound",
            "NLL", "scored on", f"NLL − {sections[0].name}'s, paired", "bits/dim",
            "active units"]
    note = ('<p class="note">NLL in nats ± standard error over the test images ± Monte Carlo '
            "error. The paired difference takes each test image's NLL under a run minus its "
            f"NLL under {html.escape(sections[0].name)}, averaged: ± the standard error of "
            "those differences over the images (what the two models share cancels, so it is "
            "far smaller than the two NLLs' own errors combined) ± the two evaluations' Monte "
            "Carlo errors combined. — : not evaluated on the same images with the same K (run "
            "`vaelab eval` on both with the same --examples and --seed).</p>")
    return ("<h2>Comparison</h2>" + _table(rows, head) + note +
            _img(png_uri(training_curves_figure({s.name: s.metrics for s in sections})),
                 "training curves, all runs") +
            _img(png_uri(bounds_figure({s.name: s.eval for s in sections})), "L_K, all runs"))


def write_report(run_dirs: list[str | Path], out: str | Path, *, device: str = "auto",
                 eval_n: int = 200, seed: int = 0, progress=None) -> Path:
    """Write the report of ``run_dirs`` to ``out`` (an .html file); returns its path."""
    if not run_dirs:
        raise ConfigError("give at least one run directory")
    if eval_n < 1:
        raise ConfigError(f"--examples must be >= 1, got {eval_n}")
    tables, dirs = [], []
    for d in map(Path, run_dirs):  # a reproduce folder: its table, then its rows' runs
        if is_reproduction(d):
            doc = read_table(d)
            tables.append(published_table_html(doc, d))
            dirs += row_runs(d, doc)
        else:
            dirs.append(d)
    runs = [load_run(d, "best", device) for d in dirs]
    with torch.no_grad():
        sections = [Section(run, i, eval_n, seed)
                    for i, run in enumerate(progress(runs) if progress else runs)]
        bodies = [s.html() for s in sections]
    explorers = dict(s.explorer for s in sections if s.explorer is not None)
    nav = " &middot; ".join(['<a href="#published">published table</a>'] * bool(tables) +
                            [f'<a href="#run-{s.index}">{html.escape(s.name)}</a>'
                             for s in sections])
    names = [Path(d).name for d in run_dirs if is_reproduction(Path(d))] + \
        [s.name for s in sections]
    page = ["<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
            f"<title>vaelab report: {html.escape(', '.join(names))}</title>",
            f"<style>{CSS}</style></head><body>",
            f"<h1>vaelab report</h1><p class=\"note\">vaelab {__version__}, "
            f"{time.strftime('%Y-%m-%d %H:%M')} &middot; {nav}</p>",
            *tables, comparison_html(sections) if len(sections) > 1 else "", *bodies,
            f"<script>var EXPLORER = {json.dumps(explorers)};{JS}</script></body></html>"]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("\n".join(page))
    tmp.replace(out)
    return out
