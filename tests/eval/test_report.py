"""The report writer on given numbers: tables, plots, escaping, eval.json."""

from __future__ import annotations

import json
import math
from pathlib import Path

from kazft.eval.plots import read_loss_curve
from kazft.eval.report import (
    category_rows,
    delta,
    finite,
    metric_rows,
    render_markdown,
    retention_rows,
    write_json,
    write_report,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def result() -> dict:
    base = {
        "loss": 2.5,
        "perplexity": math.exp(2.5),
        "tokens": 40,
        "chrf++": 20.0,
        "bleu": 5.0,
        "exact_match": 0.0,
        "token_f1": 10.0,
        "len_words": 12.0,
        "ref_len_words": 8.0,
    }
    adapter = {
        "loss": 1.5,
        "perplexity": math.exp(1.5),
        "tokens": 40,
        "chrf++": 45.5,
        "bleu": 21.0,
        "exact_match": 50.0,
        "token_f1": 60.0,
        "len_words": 9.0,
        "ref_len_words": 8.0,
    }
    return {
        "adapter": {"path": "adapters/demo", "kind": "run"},
        "model": {"base": "kazft:tiny", "quantize": {"bits": 4, "group_size": 64}},
        "split": "valid",
        "records": 2,
        "limit": None,
        "split_note": "the recipe has no test split; evaluated on valid",
        "generation": {"max_tokens": 32, "decoding": "greedy"},
        "signatures": {"chrf++": "nrefs:1|case:mixed|eff:yes|nc:6|nw:2|space:no|version:2.6.0"},
        "systems": {"base": base, "adapter": adapter},
        "categories": {
            "еңбек": {
                "n": 1,
                "base": {**base, "chrf++": 10.0},
                "adapter": {**adapter, "chrf++": 40.0},
            },
            "салық": {
                "n": 1,
                "base": {**base, "chrf++": 30.0},
                "adapter": {**adapter, "chrf++": 25.0},
            },
        },
        "retention": {
            "threshold": 0.1,
            "probes": [
                {
                    "lang": "kk",
                    "source": "kazft:probe_kk.txt",
                    "documents": 3,
                    "tokens": 100,
                    "base_ppl": 10.0,
                    "adapter_ppl": 10.5,
                    "change": 0.05,
                    "warn": False,
                },
                {
                    "lang": "ru",
                    "source": "kazft:probe_ru.txt",
                    "documents": 3,
                    "tokens": 90,
                    "base_ppl": 8.0,
                    "adapter_ppl": 10.0,
                    "change": 0.25,
                    "warn": True,
                },
            ],
            "warnings": ["general Russian perplexity rose by 25.0 % (8.00 -> 10.00)"],
        },
        "samples": [
            {
                "source": "data/x.jsonl:3",
                "category": "еңбек",
                "question": "Еңбек шарты <b>қалай</b> жасалады?",
                "reference": "Жазбаша | нысанда.",
                "base": "Білмеймін.",
                "adapter": "Жазбаша нысанда.",
            }
        ],
    }


def test_metric_rows_and_deltas() -> None:
    rows = {label: (b, a, d) for label, b, a, d in metric_rows(result())}
    assert rows["loss (trained tokens)"] == ("2.5000", "1.5000", "-1.0000")
    assert rows["chrF++"] == ("20.00", "45.50", "+25.50")
    assert rows["exact match %"] == ("0.0", "50.0", "+50.0")
    # Perplexity changes are relative: e^1.5 / e^2.5 - 1 = e^-1 - 1.
    assert rows["perplexity"][2] == f"{100 * (math.exp(-1) - 1):+.1f} %"
    assert rows["reference length (words)"][0] == "8.0"
    assert delta("bleu", None, 3.0) == "–"


def test_category_and_retention_rows() -> None:
    cats = category_rows(result())
    assert [r[0] for r in cats] == ["еңбек", "салық"]
    assert cats[1][2:5] == ("30.00", "25.00", "-5.00")
    ret = retention_rows(result())
    assert ret[1] == ("ru", "kazft:probe_ru.txt", "90", "8.000", "10.000", "+25.0 %", "WARNING")
    assert ret[0][-1] == "ok"


def test_read_loss_curve_skips_bad_lines(tmp_path: Path) -> None:
    p = tmp_path / "metrics.jsonl"
    p.write_text(
        '{"kind": "train", "step": 10, "loss": 3.0, "learning_rate": 0.1}\n'
        '{"kind": "train", "step": 20, "loss": 2.0}\n'
        '{"kind": "valid", "step": 20, "val_loss": 2.5, "val_ppl": 12.2}\n'
        '{"kind": "test", "step": 20, "test_loss": 2.6}\n'
        'not json\n[1, 2]\n{"kind": "train", "step": "x", "loss": 1.0}\n'
        '{"kind": "train", "step": 30, "loss": NaN}\n{"kind": "train", "step": 30, "lo',
        encoding="utf-8",
    )
    assert read_loss_curve(p) == {"train": [(10, 3.0), (20, 2.0)], "valid": [(20, 2.5)]}


def test_write_report_files_and_plots(tmp_path: Path) -> None:
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text(
        "".join(
            json.dumps({"kind": "train", "step": s, "loss": 3.0 / s}) + "\n" for s in range(1, 6)
        ),
        encoding="utf-8",
    )
    out = tmp_path / "eval"
    written = write_report(result(), out, metrics)
    assert set(written) == {"loss", "categories", "retention", "markdown", "html"}
    for name in ("loss.png", "categories.png", "retention.png"):
        assert (out / name).read_bytes().startswith(PNG_MAGIC)
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "| chrF\\+\\+ |" not in md and "| chrF++ | 20.00 | 45.50 | +25.50 |" in md
    assert "![Training loss](loss.png)" in md and "![Retention](retention.png)" in md
    assert "> **Warning:** general Russian perplexity rose by 25.0 %" in md
    # User text is escaped: a pipe cannot break the table, a tag is not HTML.
    assert "Жазбаша \\| нысанда." in md and "\\<b\\>қалай\\</b\\>" in md
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Еңбек шарты &lt;b&gt;қалай&lt;/b&gt; жасалады?" in page
    assert page.count('src="data:image/png;base64,') == 3
    assert "<td>еңбек</td>" in page


def test_stale_plots_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "eval"
    write_report(result(), out)
    assert (out / "categories.png").exists() and not (out / "loss.png").exists()
    bare = {k: v for k, v in result().items() if k not in ("categories", "retention", "samples")}
    written = write_report(bare, out)
    assert set(written) == {"markdown", "html"}
    assert not (out / "categories.png").exists() and not (out / "retention.png").exists()
    md = render_markdown(bare, {})
    assert "By category" not in md and "Side-by-side" not in md


def test_write_json_has_no_nan(tmp_path: Path) -> None:
    assert finite({"a": [1.0, float("nan")], "b": float("inf"), "c": "x"}) == {
        "a": [1.0, None],
        "b": None,
        "c": "x",
    }
    p = tmp_path / "eval.json"
    write_json(p, {"loss": float("nan"), "name": "заң"})
    assert json.loads(p.read_text(encoding="utf-8")) == {"loss": None, "name": "заң"}
    assert "заң" in p.read_text(encoding="utf-8")


def test_without_matplotlib_the_report_has_tables_only(tmp_path: Path, monkeypatch) -> None:
    import kazft.eval.plots

    monkeypatch.setattr(kazft.eval.plots, "matplotlib_available", lambda: False)
    notes: list[str] = []
    written = write_report(result(), tmp_path, log=notes.append)
    assert set(written) == {"markdown", "html"}
    assert not list(tmp_path.glob("*.png"))
    assert "matplotlib is not installed" in notes[0]
    assert "| chrF++ | 20.00 | 45.50 | +25.50 |" in (tmp_path / "report.md").read_text("utf-8")


def _drawn(monkeypatch, draw) -> list:
    """The figures a plot function draws (captured instead of saved)."""
    from kazft.eval import plots

    figs: list = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: figs.append(fig))
    assert draw()
    return figs


def test_legends_and_notes_never_cover_a_bar(tmp_path: Path, monkeypatch) -> None:
    """Tall bars everywhere: a legend inside the axes would cover the top of one."""
    from kazft.eval.plots import plot_categories, plot_retention

    tall = {
        "categories": {
            f"азаматтық құқық {i}": {
                "n": 3,
                "base": {"chrf++": 88.0 + i},
                "adapter": {"chrf++": 97.0 - i},
            }
            for i in range(3)
        },
        "retention": {
            "probes": [
                {"lang": "kk", "base_ppl": 9.2, "adapter_ppl": 9.4, "change": 0.02},
                {"lang": "ru", "base_ppl": 9.81, "adapter_ppl": 11.2, "change": 0.142},
            ]
        },
    }
    figs = _drawn(monkeypatch, lambda: plot_categories(tall, tmp_path / "c.png"))
    figs += _drawn(monkeypatch, lambda: plot_retention(tall, tmp_path / "r.png"))
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    for fig in figs:
        canvas = FigureCanvasAgg(fig)  # (closed figures lose their canvas)
        canvas.draw()
        renderer = canvas.get_renderer()
        ax = fig.axes[0]
        legend = ax.get_legend().get_window_extent(renderer)
        assert not legend.overlaps(ax.title.get_window_extent(renderer))
        for bar in ax.patches:
            box = bar.get_window_extent(renderer)
            assert not legend.overlaps(box), "the legend covers a bar"
        for note in ax.texts:  # the retention change labels stay inside the axes
            assert ax.get_window_extent(renderer).contains(*note.get_window_extent(renderer).max)
