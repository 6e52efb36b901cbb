"""Appendix B from bench.json: the speed-ratio table per setting and precision, its sentence
and the kernel table follow the numbers of the synthetic fixture's bench.json (settings, both
precisions) as edited here, and a bench.json written before settings still renders.
"""

from __future__ import annotations

import copy
import re

import pytest

from attnstudy.report import fmt, results
from attnstudy.report.style import prose_label
from tests import synthetic
from tests.test_report_prose import _html, _text


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return results.load(synthetic.results(tmp_path_factory.mktemp("results")))


def _cells(html: str, id: str) -> list[list[str]]:
    """The body rows of the table with `id`, as lists of cell texts (row header first)."""
    body = html.split(f'id="{id}"')[1].split("<tbody>")[1].split("</tbody>")[0]
    return [[_text(c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def _grid_sentence(html: str) -> str:
    return _text(html.split('id="tab-bench"')[1].split("<p>")[1].split("</p>")[0])


def test_bench_settings_table_and_sentence_follow_the_numbers(bundle):
    b = copy.deepcopy(bundle)
    bench = b["bench"]
    two, one = bench["settings"][1], bench["settings"][0]
    bench["settings"] = [two, one]  # file order must not matter: the main setting comes first
    slow = next(r for r in two["models"] if r["model"] == "mhsa" and r["precision"] == "bfloat16")
    slow["torch_ms"], slow["speed_ratio"] = slow["jax_ms"] * 0.25, 0.25  # a new minimum
    bench["precision"] = "float32"  # the main table at another precision than the runs'
    bench["models"] = [r for r in one["models"] if r["precision"] == "float32"]
    html = _html(b)
    cols = [(s, p) for s in (one, two) for p in ("float32", "bfloat16")]
    rows = {(r["model"], s["setting"], r["precision"]): r for s in (one, two)
            for r in s["models"]}
    for cells in _cells(html, "tab-bench-settings"):
        model = next(m for m in b["results"]["models"] if prose_label(m) == cells[0])
        want = [x for s, p in cols for x in (
            fmt.n(rows[model, s["setting"], p]["speed_ratio"], 2),
            fmt.n(rows[model, s["setting"], p]["jax_ms"], 1))]
        assert cells[1:] == want, model
    text = _grid_sentence(html)
    ratios = [r["speed_ratio"] for r in rows.values()]
    assert (f"Over all {len(ratios)} combinations of model, setting and precision the JAX step "
            f"runs at {fmt.n(min(ratios), 2)}–{fmt.n(max(ratios), 2)} times") in text
    assert "slowest relative to PyTorch: MHSA , two threads , bfloat16" in text
    assert f"faster one in {sum(x > 1 for x in ratios)} of them" in text
    for s, p in cols:
        col = [r["speed_ratio"] for r in s["models"] if r["precision"] == p]
        assert f"{s['setting']} {p} {fmt.n(min(col), 2)}–{fmt.n(max(col), 2)}" in text
    jax_gain = [rows[m, "one core", "float32"]["jax_ms"] / rows[m, "one core", "bfloat16"]["jax_ms"]
                for m in b["results"]["models"]]
    assert f"is {fmt.n(min(jax_gain), 2)}–{fmt.n(max(jax_gain), 2)} for JAX" in text
    trained = b["results"]["config"]["model"]["precision"]
    assert trained != "float32"  # else the next check tests nothing
    assert (f"show one core with float32 matmuls; the runs of this report trained at {trained}"
            in text)
    main = [r["speed_ratio"] for r in bench["models"]]
    assert (f"In Table {_table_no(html, 'tab-bench')} ( one core with float32 matmuls) the JAX "
            f"step runs at {fmt.n(min(main), 2)}–{fmt.n(max(main), 2)} times") in _text(html)


def test_bench_kernels_show_both_input_precisions(bundle):
    b = copy.deepcopy(bundle)
    k = b["bench"]["kernels"][0]
    rows = _cells(_html(b), "tab-bench-kernels")
    assert rows[0][:3] == [k["kernel"], k["shape"], "float32"]
    assert rows[0][3:] == [fmt.n(k[f"{lib}_ms"], 2) for lib in ("jax", "torch", "numpy")] + [
        fmt.integer(k[f"{lib}_gflops"]) for lib in ("jax", "torch", "numpy")]
    assert rows[1] == ["bfloat16", fmt.n(k["jax_bf16_ms"], 2), fmt.n(k["torch_bf16_ms"], 2), "–",
                       fmt.integer(k["jax_bf16_gflops"]), fmt.integer(k["torch_bf16_gflops"]),
                       "–"]
    for key in [key for key in k if "_bf16_" in key]:  # kernels timed in float32 only
        del k[key]
    rows = _cells(_html(b), "tab-bench-kernels")
    assert len(rows) == 1 and "float32" not in rows[0] and rows[0][0] == k["kernel"]


def _table_no(html: str, id: str) -> str:
    return re.search(rf'id="{id}".*?Table (\d+)\.', html, re.S)[1]


def test_bench_without_settings_still_renders(bundle):
    """A bench.json written before `settings` and precision (build/results of v2.0.0)."""
    b = copy.deepcopy(bundle)
    for k in ("settings", "setting", "precision"):
        del b["bench"][k]
    for r in b["bench"]["models"]:
        del r["precision"]
    html = _html(b)
    assert 'id="tab-bench"' in html and 'id="tab-bench-settings"' not in html
    main = [r["speed_ratio"] for r in b["bench"]["models"]]
    assert (f"Here the JAX step runs at {fmt.n(min(main), 2)}–{fmt.n(max(main), 2)} times"
            in _text(html))
    assert len(_cells(html, "tab-bench")) == len(main)


def test_bench_on_another_cpu_than_the_runs_says_so(bundle):
    """Kernels and speeds depend on the CPU: Appendix B names the benchmark's CPU, and says when
    it is not the one the runs trained on (each run's provenance)."""
    b = copy.deepcopy(bundle)
    trained = {r["provenance"]["cpu"] for r in b["results"]["runs"] if r.get("provenance")}
    assert trained, "the fixture's runs record their CPU"
    b["bench"]["cpu"] = sorted(trained)[0]
    text = _text(_html(b))
    assert f"It ran on {sorted(trained)[0]}." in text
    assert "not on the CPU the runs" not in text
    b["bench"]["cpu"] = "Other CPU 9000"
    text = _text(_html(b))
    assert ("It ran on Other CPU 9000, not on the CPU the runs of this report trained on "
            f"({'; '.join(sorted(trained))})") in text


def test_a_bench_of_other_settings_than_the_runs_says_which(bundle):
    """bench.json times its own batch width and models; when they are not the runs' (v3 reads
    512 tokens with 8 models, the benchmark 400 with 6), Appendix B says so."""
    b = copy.deepcopy(bundle)
    b["bench"]["seq_len"] = b["results"]["config"]["data"]["max_len"]
    text = _text(_html(b))
    assert "It was measured" not in text
    b["bench"]["seq_len"] += 1
    dropped = b["bench"]["models"][0]["model"]
    b["bench"]["models"] = [r for r in b["bench"]["models"] if r["model"] != dropped]
    for st in b["bench"].get("settings", []):
        st["models"] = [r for r in st["models"] if r["model"] != dropped]
    text = _text(_html(b))
    want = (f"It was measured at {b['bench']['seq_len']} tokens, while these runs read up to "
            f"{b['results']['config']['data']['max_len']}, without {prose_label(dropped)}.")
    assert want in " ".join(text.split())
