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
