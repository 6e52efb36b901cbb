"""pipeline.carry: finished runs packed into build/carry/ and unpacked on another machine."""

import io
import tarfile

import pytest

from attnstudy.errors import UserError
from attnstudy.pipeline import carry


def fake_run(cache, name, evaluated=True, params=True, finished=True):
    rdir = cache / "runs" / name
    rdir.mkdir(parents=True)
    (rdir / "checkpoint.msgpack").write_bytes(b"resume state")
    if params:
        (rdir / "best_params.msgpack").write_bytes(b"params " + name.encode())
    if finished:
        (rdir / "trained.json").write_text('{"best_step": 3}')
    if evaluated:
        edir = rdir / "eval-abc"
        edir.mkdir()
        (edir / "test_probs.npy").write_bytes(b"probs")
        (edir / "result.json").write_text("{}")
        half = rdir / "eval-def"  # an evaluation that was interrupted: no result.json
        half.mkdir()
        (half / "test_probs.npy").write_bytes(b"half")
    return rdir


def test_pack_then_unpack_restores_what_a_build_reads(tmp_path):
    cache, out, other = tmp_path / "cache", tmp_path / "carry", tmp_path / "other"
    fake_run(cache, "bilstm-seed0-k1")                      # evaluated seed 0: params travel
    fake_run(cache, "bilstm-seed1-k2")                      # evaluated seed 1: no params
    fake_run(cache, "additive-seed0-k3", evaluated=False)   # a sweep run: record only
    fake_run(cache, "mhsa-seed0-k4", evaluated=False, finished=False)  # still training
    written = carry.pack(cache, out)
    assert sorted(p.name for p in written) == [
        "additive-seed0-k3.tar.xz", "bilstm-seed0-k1.tar.xz", "bilstm-seed1-k2.tar.xz"]

    assert carry.unpack(out, other) == ["additive-seed0-k3", "bilstm-seed0-k1",
                                        "bilstm-seed1-k2"]
    runs = other / "runs"
    assert sorted(p.relative_to(runs).as_posix() for p in runs.rglob("*") if p.is_file()) == [
        "additive-seed0-k3/trained.json",
        "bilstm-seed0-k1/best_params.msgpack", "bilstm-seed0-k1/eval-abc/result.json",
        "bilstm-seed0-k1/eval-abc/test_probs.npy", "bilstm-seed0-k1/trained.json",
        "bilstm-seed1-k2/eval-abc/result.json", "bilstm-seed1-k2/eval-abc/test_probs.npy",
        "bilstm-seed1-k2/trained.json"]
    assert (runs / "bilstm-seed0-k1/best_params.msgpack").read_bytes() == b"params bilstm-seed0-k1"
    assert carry.unpack(out, other) == []  # nothing missing: nothing written


def test_archives_are_reproducible_and_repacked_only_when_a_run_grows(tmp_path):
    cache, out = tmp_path / "cache", tmp_path / "carry"
    rdir = fake_run(cache, "additive-seed0-k3", evaluated=False)
    [archive] = carry.pack(cache, out)
    first = archive.read_bytes()
    assert carry.pack(cache, out) == []  # unchanged run: the archive is left alone
    archive.unlink()
    carry.pack(cache, out)
    assert archive.read_bytes() == first  # no times or owners inside: byte for byte
    assert carry.pack(cache, out, params=("additive-*",)) == [archive]  # asked-for parameters
    with tarfile.open(archive) as tar:
        names = [m.name for m in tar.getmembers()]
    assert names == ["additive-seed0-k3/best_params.msgpack", "additive-seed0-k3/trained.json"]
    assert rdir.name in archive.name


def test_files_are_restored_in_the_order_a_run_makes_them(tmp_path):
    """An unpack killed half-way leaves a run that looks unfinished, never one that looks done
    without its files: parameters, the record, the evaluation, its result.json last."""
    cache, out = tmp_path / "cache", tmp_path / "carry"
    fake_run(cache, "bilstm-seed0-k1")
    [archive] = carry.pack(cache, out)
    with tarfile.open(archive) as tar:
        names = [m.name.split("/", 1)[1] for m in tar.getmembers()]
    assert names == ["best_params.msgpack", "trained.json", "eval-abc/test_probs.npy",
                     "eval-abc/result.json"]


def test_an_archive_never_loses_the_parameters_it_carries(tmp_path):
    cache, out = tmp_path / "cache", tmp_path / "carry"
    fake_run(cache, "mhsa-seed0-k4", evaluated=False)
    [archive] = carry.pack(cache, out, params=("mhsa-*",))
    assert carry.pack(cache, out) == []  # a later pack without the pattern keeps them
    with tarfile.open(archive) as tar:
        assert "mhsa-seed0-k4/best_params.msgpack" in tar.getnames()


def test_the_sweeps_final_runs_carry_their_parameters(tmp_path, monkeypatch):
    cache, out, sweep = tmp_path / "cache", tmp_path / "carry", tmp_path / "sweep.json"
    fake_run(cache, "mhsa-seed0-k4", evaluated=False)
    fake_run(cache, "mhsa-seed0-k5", evaluated=False)
    sweep.write_text('{"seed": 0, "final_runs": {"mhsa": {"run_key": "mhsa-seed0-k5"}}}')
    monkeypatch.setattr(carry, "SWEEP", sweep)
    assert carry.final_runs(sweep) == ("mhsa-seed0-k5",)
    carry.pack(cache, out)
    with tarfile.open(out / "mhsa-seed0-k5.tar.xz") as tar:
        assert "mhsa-seed0-k5/best_params.msgpack" in tar.getnames()
    with tarfile.open(out / "mhsa-seed0-k4.tar.xz") as tar:
        assert tar.getnames() == ["mhsa-seed0-k4/trained.json"]


def test_unpack_leaves_a_run_this_machine_has_and_names_a_broken_archive(tmp_path):
    """One run's files never come from two machines: a run this machine trained (or is
    training) keeps only its own files."""
    cache, out, other = tmp_path / "cache", tmp_path / "carry", tmp_path / "other"
    fake_run(cache, "bilstm-seed1-k2")
    fake_run(cache, "bilstm-seed2-k3")
    carry.pack(cache, out)
    mine = other / "runs" / "bilstm-seed1-k2"
    mine.mkdir(parents=True)
    (mine / "checkpoint.msgpack").write_text("this machine's own training")
    assert carry.unpack(out, other) == ["bilstm-seed2-k3"]
    assert [p.name for p in mine.iterdir()] == ["checkpoint.msgpack"]
    (out / "broken-seed0-k9.tar.xz").write_bytes(b"not an archive")
    with pytest.raises(UserError, match="cannot unpack .*broken-seed0-k9"):
        carry.unpack(out, other)


def test_unpack_refuses_a_member_outside_its_run(tmp_path):
    out, other = tmp_path / "carry", tmp_path / "other"
    out.mkdir()
    with tarfile.open(out / "bilstm-seed0-k1.tar.xz", "w:xz") as tar:
        info = tarfile.TarInfo("bilstm-seed0-k1/../../escaped.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    with pytest.raises(UserError, match="unexpected member 'bilstm-seed0-k1/../../escaped.txt'"):
        carry.unpack(out, other)
    assert not (tmp_path / "escaped.txt").exists() and not (other / "escaped.txt").exists()


def test_a_resumed_retrain_trains_seed_by_seed_whatever_finished_before():
    """Runs are handed out in seed order, so a retrain cut short (or moved to another CPU) holds
    the same seeds of every model: here bilstm's seed 1 finished before, yet seed 1 of the
    other models still comes before anyone's seed 2."""
    from attnstudy.pipeline.workers import cost_order

    pending = [("bilstm", 2), ("embed_mean", 1), ("embed_mean", 2), ("mhsa", 1), ("mhsa", 2)]
    order = cost_order(pending)
    assert [s for _, s in order] == [1, 1, 2, 2, 2]
    assert order[0] == ("mhsa", 1) and order[2][0] == "mhsa"  # the costliest model first
