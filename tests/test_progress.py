"""refine.progress: rows done, elapsed and an estimate for long loops; nothing for short ones or under quiet."""

from refine.progress import Progress
from refine.text.embed import CachedEmbedder, HashingEmbedder


class Clock:
    """A clock the test sets."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_long_loop_reports_count_elapsed_and_estimate():
    lines: list[str] = []
    clock = Clock()
    progress = Progress(echo=lines.append, every_s=5.0, clock=clock)
    task = progress.task("embedding", total=1000, unit="texts")
    for _ in range(10):
        clock.now += 2.0  # 100 texts every 2 s
        task.advance(100)
    task.done()
    assert lines[0] == "  embedding: 300 / 1,000 texts (30%), 6 s elapsed, about 14 s left"
    assert lines[-1] == "  embedding: 1,000 / 1,000 texts (100%), 20 s elapsed"
    assert len(lines) == 4  # at 6, 12 and 18 s, and the end


def test_a_short_loop_and_quiet_print_nothing():
    lines: list[str] = []
    clock = Clock()
    short = Progress(echo=lines.append, every_s=5.0, clock=clock).task("embedding", 50, "texts")
    for _ in range(50):
        clock.now += 0.01
        short.advance()
    short.done()
    quiet = Progress(quiet=True, echo=lines.append, every_s=5.0, clock=clock).task("embedding", 50, "texts")
    for _ in range(50):
        clock.now += 60
        quiet.advance()
    quiet.done()
    assert lines == []
    assert quiet.count == 50  # counted all the same


def test_stage_lines_and_timings():
    lines: list[str] = []
    progress = Progress(echo=lines.append)
    with progress.stage("ingest", "a.csv + b.csv"):
        pass
    assert lines == ["- ingest: a.csv + b.csv"] and set(progress.timings) == {"ingest"}
    silent = Progress(quiet=True, echo=lines.append)
    with silent.stage("embed"):
        pass
    assert len(lines) == 1 and "embed" in silent.timings


def test_the_embedding_loop_reports_each_chunk(tmp_path):
    lines: list[str] = []
    clock = Clock()

    class SlowHashing(HashingEmbedder):
        def encode(self, texts):
            clock.now += 1.0  # each chunk takes a second
            return super().encode(texts)

    progress = Progress(echo=lines.append, every_s=1.0, clock=clock)
    embedder = CachedEmbedder(SlowHashing(), tmp_path / "cache", progress=progress)
    embedder.chunk_size = 10
    texts = [f"parcel {i} arrived late" for i in range(45)]
    embedder.encode(texts)
    assert lines[0].startswith("  embedding: 10 / 45 texts (22%)")
    assert lines[-1].startswith("  embedding: 45 / 45 texts (100%)")
    lines.clear()
    embedder.encode(texts)  # every text cached: nothing to report
    assert lines == [] and embedder.last_computed == 0


def test_quiet_hides_progress_never_a_warning():
    lines: list[str] = []
    quiet = Progress(quiet=True, echo=lines.append)
    with quiet.stage("ingest", "a.csv"):
        quiet.say("feedback 10 in")
        quiet.warn("feedback.csv was read as cp1252, not UTF-8")
    assert lines == ["warning: feedback.csv was read as cp1252, not UTF-8"]


def test_a_quiet_run_still_prints_its_ingest_warnings(tmp_path):
    """`refine run --quiet` (run_cycle quiet=True): the ingest stage's counts are progress and stay hidden, its
    warnings (here: a file that is not UTF-8) are printed all the same."""
    from refine.io.config import config_from_dict
    from refine.run.cycle import _Cycle, ingest_stage

    (tmp_path / "feedback.csv").write_bytes(
        "id,text\n1,Parcel was late and the caf\xe9 closed\n2,Great service\n".encode("latin-1")
    )
    (tmp_path / "customers.csv").write_text("id,segment\n1,Gold\n2,Silver\n")
    config = config_from_dict(
        {"feedback": {"customer_id": "id", "text": "text"}, "customers": {"customer_id": "id", "segment": "segment"}},
        "refine.toml",
    )
    for quiet in (True, False):
        lines: list[str] = []
        cycle = _Cycle(config, tmp_path / "run", None, Progress(quiet, lines.append), None, quiet)
        ingest_stage(cycle, tmp_path / "feedback.csv", tmp_path / "customers.csv")
        warnings = [line for line in lines if line.startswith("warning: ")]
        assert len(warnings) == 1 and "feedback.csv was read as" in warnings[0] and "not UTF-8" in warnings[0]
        assert (lines == warnings) is quiet  # quiet: the warning and nothing else


def test_each_stage_records_the_peak_memory_so_far_and_run_json_keeps_it():
    """run.json `peak_rss_mb`: the process's peak resident memory as each stage ended, so the stage that set a
    run's peak is the one where the figure rises (issue 32's memory target)."""
    import dataclasses
    import sys

    from refine.io.runs import RunManifest

    progress = Progress(quiet=True)
    with progress.stage("embed"):
        block = bytearray(64 * 1024 * 1024)  # 64 MiB, touched
        block[::4096] = b"x" * len(block[::4096])
    with progress.stage("topics"):
        pass
    del block
    if sys.platform.startswith("win"):
        assert progress.peak_rss_mb == {}
        return
    assert list(progress.peak_rss_mb) == ["embed", "topics"]
    assert 64 < progress.peak_rss_mb["embed"] <= progress.peak_rss_mb["topics"]
    manifest = RunManifest(refine_version="x", started="")
    assert "peak_rss_mb" not in manifest.to_json()  # runs written before, and an empty one: no key
    document = dataclasses.replace(manifest, peak_rss_mb=progress.peak_rss_mb).to_json()
    assert document["peak_rss_mb"] == progress.peak_rss_mb
