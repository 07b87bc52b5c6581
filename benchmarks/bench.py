"""One benchmark run, reported as ratios measured on the machine it runs on:

    python benchmarks/bench.py [--repeats 30] [--threads 1] [--out artifacts/benchmark]  (docs/benchmark: the README figures)

- model latency per task (p50/p95, batch 1; benchmarks/latency.py's CASES and measure),
- end-to-end latency of each task's endpoint through gradio_client, explanations rendered,
- the hidden /echo endpoint (same inputs, no model) as the baseline for Gradio's own overhead,
- cold start: `python app.py` process start -> first answer of the first task,
- the BLIP-base and ViLT-B/32 architectures (transformers BlipConfig() / ViltConfig() defaults,
  random weights, nothing downloaded: the same compute as the released models) on the same
  inputs, as ratios to the built-in models.
Writes <out>.json and <out>.md (machine description and load included) and prints the table.
"""
import argparse
import json
import math
import os
import platform
import statistics
import time
from pathlib import Path

import torch
from gradio_client import Client
from latency import CASES, measure

import mmdemo
from mmdemo import paths, serve

ENDPOINTS = {"vqa": "/vqa", "caption": "/caption", "classify": "/classify"}   # task -> endpoint
TARGETS = {"e2e_over_echo_plus_model": 1.5, "cold_start_s": 8.0, "vilt_over_vqa": 20.0, "blip_over_caption": 50.0}


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or platform.machine())
    mem_kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal")))
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gb": round(mem_kb / 2**20, 1),
            "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
            "torch": torch.__version__, "os": platform.platform()}


def summary(times: list[float]) -> dict:
    times = sorted(times)
    return {"p50_ms": round(statistics.median(times), 2), "p95_ms": round(times[math.ceil(0.95 * len(times)) - 1], 2),
            "repeats": len(times)}


def timed(fns: dict, repeats: int, warmup: int = 2) -> dict:
    """Latency of each function in `fns`, called in turn (interleaved, so a change of machine load
    during the run affects all of them alike)."""
    times = {name: [] for name in fns}
    for i in range(warmup + repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            if i >= warmup:
                times[name].append((time.perf_counter() - t) * 1000)
    return {name: summary(ts) for name, ts in times.items()}


# ---------------------------------------------------------------- peers: same architecture, random weights
def vilt_vqa(image_path: str, question: str):
    """ViLT-B/32 VQA (ViltConfig() = dandelin/vilt-b32-finetuned-vqa's architecture, 3,129 answers)
    on the same image and question; ViLT's own preprocessing (shorter side to 384)."""
    from PIL import Image
    from transformers import ViltConfig, ViltForQuestionAnswering, ViltImageProcessor
    model = ViltForQuestionAnswering(ViltConfig(num_labels=3129)).eval()
    pixels = ViltImageProcessor()(Image.open(image_path).convert("RGB"), return_tensors="pt")
    tokens = mmdemo.nn.text.MiniLMEncoder.shared().tokenizer(question, return_tensors="pt")   # same uncased BERT vocabulary

    @torch.no_grad()
    def run():
        return model(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"],
                     pixel_values=pixels["pixel_values"], pixel_mask=pixels["pixel_mask"]).logits.argmax(-1)
    return run


def blip_caption(image_path: str, new_tokens: int):
    """BLIP-base captioning (BlipConfig() = Salesforce/blip-image-captioning-base's architecture),
    greedy, generating exactly as many tokens as the built-in caption has."""
    from PIL import Image
    from transformers import (
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
    )
    model = BlipForConditionalGeneration(BlipConfig()).eval()
    pixels = BlipImageProcessor()(Image.open(image_path).convert("RGB"), return_tensors="pt")["pixel_values"]

    @torch.no_grad()
    def run():
        return model.generate(pixel_values=pixels, max_new_tokens=new_tokens, min_new_tokens=new_tokens, num_beams=1,
                              do_sample=False)
    return run


# ---------------------------------------------------------------- the app
def app_figures(tasks: list[str], repeats: int, threads: int, cold_starts: int) -> dict:
    """Cold start (median of `cold_starts` fresh processes), then end-to-end and echo latency through
    gradio_client on the same inputs. The app's torch uses the same thread count as the
    in-process measurements."""
    first, walls, cpus = tasks[0], [], []
    for i in range(cold_starts):
        app = serve.start_app(env={"OMP_NUM_THREADS": str(threads)}, timeout=300)
        client = Client(app.url, verbose=False)
        api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
        client.predict(*serve.endpoint_args(api[ENDPOINTS[first]]["parameters"], CASES[first]), api_name=ENDPOINTS[first])
        walls.append(time.perf_counter() - app.started)
        cpus.append(app.cpu_s())
        if i < cold_starts - 1:
            serve.stop_app(app)
    out = {"cold_start_s": round(statistics.median(walls), 2), "cold_start_runs_s": [round(w, 2) for w in walls],
           "cold_start_cpu_s": round(statistics.median(cpus), 2), "cold_start_task": first}
    try:
        for task in tasks:
            args = serve.endpoint_args(api[ENDPOINTS[task]]["parameters"], CASES[task])
            echo_args = serve.endpoint_args(api["/echo"]["parameters"], CASES[task])
            t = timed({"e2e": lambda: client.predict(*args, api_name=ENDPOINTS[task]),
                       "echo": lambda: client.predict(*echo_args, api_name="/echo")}, repeats)
            out[f"e2e_{task}"], out[f"echo_{task}"] = t["e2e"], t["echo"]
        out["server_rss_mb"] = round(app.rss_mb(), 1)
        return out
    finally:
        serve.stop_app(app)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--peer-repeats", type=int, default=5)
    ap.add_argument("--cold-starts", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch threads for every model (built-in and peers)")
    ap.add_argument("--out", type=Path, default=paths.artifacts("benchmark"), help="default artifacts/benchmark; docs/benchmark updates the README figures")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    load_before = load_average()
    tasks = [t for t in ENDPOINTS if t in mmdemo.list_tasks() and t in CASES]
    result = {"machine": machine(), "load_average_before": load_before, "targets": TARGETS, "tasks": tasks}
    for task in tasks:
        result[f"model_{task}"] = measure(task, args.repeats)
    result.update(app_figures(tasks, args.repeats, args.threads, args.cold_starts))
    ratios = {}
    for task in tasks:
        model, e2e, echo = result[f"model_{task}"]["p50_ms"], result[f"e2e_{task}"]["p50_ms"], result[f"echo_{task}"]["p50_ms"]
        ratios[f"e2e_over_echo_plus_model_{task}"] = round(e2e / (echo + model), 2)
    if "vqa" in tasks:
        c = CASES["vqa"]
        result["peer_vilt_b32"] = timed({"vilt": vilt_vqa(c["image"], c["text"])}, args.peer_repeats, warmup=1)["vilt"]
        ratios["vilt_over_vqa"] = round(result["peer_vilt_b32"]["p50_ms"] / result["model_vqa"]["p50_ms"], 1)
    if "caption" in tasks:
        c = CASES["caption"]
        words = len(mmdemo.load("caption").predict(**c).output.split())
        result["peer_blip_base"] = timed({"blip": blip_caption(c["image"], words + 1)}, args.peer_repeats, warmup=1)["blip"]
        result["peer_blip_base"]["new_tokens"] = words + 1
        ratios["blip_over_caption"] = round(result["peer_blip_base"]["p50_ms"] / result["model_caption"]["p50_ms"], 1)
    result["ratios"] = ratios
    result["load_average_after"] = load_average()
    met = {k: v <= TARGETS["e2e_over_echo_plus_model"] for k, v in ratios.items() if k.startswith("e2e")}
    met["cold_start_s"] = result["cold_start_s"] <= TARGETS["cold_start_s"]
    for k in ("vilt_over_vqa", "blip_over_caption"):
        if k in ratios:
            met[k] = ratios[k] >= TARGETS[k]
    result["targets_met"] = met
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    md = markdown(result)
    args.out.with_suffix(".md").write_text(md)
    print(md)


def markdown(r: dict) -> str:
    m = r["machine"]
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM, torch {m['torch']} with "
             f"{m['torch_threads']} thread(s) per model; load average {r['load_average_before']} before, "
             f"{r['load_average_after']} after (1/5/15 min; the machine was shared with other jobs).", "",
             "| figure | p50 | p95 | ratio | target |", "|---|---|---|---|---|"]
    for task in r["tasks"]:
        mo, e2e, echo = r[f"model_{task}"], r[f"e2e_{task}"], r[f"echo_{task}"]
        ratio = r["ratios"][f"e2e_over_echo_plus_model_{task}"]
        lines += [f"| {task}: model `{mo['model']}`, batch 1 | {mo['p50_ms']} ms | {mo['p95_ms']} ms | | |",
                  f"| {task}: /echo (Gradio only, same inputs) | {echo['p50_ms']} ms | {echo['p95_ms']} ms | | |",
                  f"| {task}: end to end via gradio_client, explanations rendered | {e2e['p50_ms']} ms | {e2e['p95_ms']} ms "
                  f"| {ratio} × (echo + model) | ≤ 1.5 |"]
    lines.append(f"| cold start: process start → first {r['cold_start_task']} answer (median of "
                 f"{len(r['cold_start_runs_s'])}; the app used {r['cold_start_cpu_s']} s of CPU) | {r['cold_start_s']} s | | | ≤ 8 s |")
    if "peer_vilt_b32" in r:
        lines.append(f"| ViLT-B/32 VQA (random weights), same image + question | {r['peer_vilt_b32']['p50_ms']} ms "
                     f"| {r['peer_vilt_b32']['p95_ms']} ms | {r['ratios']['vilt_over_vqa']} × slower than built-in VQA | ≥ 20 × |")
    if "peer_blip_base" in r:
        lines.append(f"| BLIP-base captioning (random weights, {r['peer_blip_base']['new_tokens']} tokens greedy) "
                     f"| {r['peer_blip_base']['p50_ms']} ms | {r['peer_blip_base']['p95_ms']} ms "
                     f"| {r['ratios']['blip_over_caption']} × slower than built-in captioning | ≥ 50 × |")
    met = ", ".join(f"{k}: {'met' if v else 'MISSED'}" for k, v in r["targets_met"].items())
    return "\n".join(lines) + f"\n\nTargets: {met}.\n"


if __name__ == "__main__":
    main()
