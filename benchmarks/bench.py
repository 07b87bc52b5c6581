"""One benchmark run, reported as ratios measured on the machine it runs on:

    python benchmarks/bench.py [--repeats 30] [--threads N] [--out artifacts/benchmark]  (docs/benchmark: the README figures)

At the machine's default torch threading unless --threads is given. For every task with a panel
whose default model is usable here (its endpoint's default inputs, explanations rendered):
- model latency (p50/p95, batch 1: every predict() call the panel makes for one request),
- end-to-end latency of the task's endpoint through gradio_client (outputs downloaded),
- the hidden /echo endpoint (same inputs, no model) as the baseline for Gradio's own overhead,
and: cold start (`python app.py` process start -> first VQA answer), and the BLIP-base and ViLT-B/32
architectures (transformers BlipConfig() / ViltConfig() defaults, random weights, nothing downloaded:
the same compute as the released models) on the same inputs, as ratios to the built-in models.
MiniLM's question encodings are cached by exact text in the app; the benchmark runs with that cache
off (MMDEMO_TEXT_CACHE=0, every question new) unless --text-cache, so a repeated question does not
flatter the built-in model. Writes <out>.json and <out>.md (CPU and load average included) and prints them.
"""
import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from gradio_client import Client

import mmdemo
from mmdemo import paths, registry, serve
from mmdemo.paths import ROOT

EX = ROOT / "examples"
VOICE, DRAWN, CAT = EX / "classify" / "seven_jackson.wav", EX / "classify" / "drawn_7.png", EX / "photos" / "chelsea-cat.jpg"
# task -> (endpoint, the model calls its panel makes for one request: predict() keyword arguments each).
# The endpoint gets the first call's image / text / audio; its other parameters keep their defaults.
CASES = {
    "vqa": ("/vqa", [dict(image=EX / "vqa" / "0.png", text="what color is the shape?")]),
    "caption": ("/caption", [dict(image=EX / "caption" / "scene-four-objects.png")]),   # 22 words
    "classify": ("/classify", [dict(image=DRAWN, text="seven", audio=VOICE)]),
    "retrieve": ("/retrieve", [dict(text="seven", gallery="mnist-test", k=5, space="digits")]),
    "generate": ("/generate", [dict(image=DRAWN, text="seven", audio=VOICE, model=m, n=8, temperature=1.0,
                                    sliders=[0.0] * 4) for m in ("vae", "gan")]),
    "photo": ("/photo", [dict(image=CAT)]),
    "zeroshot": ("/zeroshot", [dict(image=CAT, text="a cat, a dog, a cup of coffee, a circle")]),
    "audio": ("/audio", [dict(audio=EX / "sounds" / "cat.mp3")]),
    "transcribe": ("/transcribe", [dict(audio=VOICE)]),
}
TARGETS = {"e2e_over_echo_plus_model": 1.25, "cold_start_s": 5.0, "vilt_over_vqa": 20.0, "blip_over_caption": 100.0}


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


def inputs_of(calls: list[dict]) -> dict:
    return {k: str(v) for k, v in calls[0].items() if k in ("image", "text", "audio")}


def model_calls(task: str):
    """One request's model work: every predict() call the task's panel makes (batch 1)."""
    model = mmdemo.load(task)
    calls = [{k: str(v) if isinstance(v, Path) else v for k, v in c.items()} for c in CASES[task][1]]
    return lambda: [model.predict(**c) for c in calls]


def usable_tasks() -> list[str]:
    """Tasks with a panel (a tab in the app) whose default model can run here."""
    from mmdemo import tasks
    with_panel = set(tasks.with_part("panel")) | {"transcribe"}   # transcribe lives in the audio tab
    return [t for t in CASES if t in registry.list_tasks() and t in with_panel
            and registry.availability(t, registry.list_models(t)[0])[0]]


# ---------------------------------------------------------------- peers: same architecture, random weights
def vilt_vqa(image_path: str, question: str):
    """ViLT-B/32 VQA (ViltConfig() = dandelin/vilt-b32-finetuned-vqa's architecture, 3,129 answers)
    on the same image and question; ViLT's own preprocessing (shorter side to 384)."""
    from PIL import Image
    from transformers import ViltConfig, ViltForQuestionAnswering, ViltImageProcessor
    model = ViltForQuestionAnswering(ViltConfig(num_labels=3129)).eval()
    pixels = ViltImageProcessor()(Image.open(image_path).convert("RGB"), return_tensors="pt")
    tokens = mmdemo.nn.text.MiniLMEncoder.shared().tokenizer([question], 40)   # ViLT's max 40; same uncased BERT vocabulary

    @torch.no_grad()
    def run():
        return model(input_ids=tokens.ids, attention_mask=tokens.attention.long(),
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
def app_figures(tasks: list[str], repeats: int, env: dict, cold_starts: int) -> dict:
    """Cold start (median of `cold_starts` fresh processes: start -> first VQA answer), then per task the
    model in this process, end to end and echo through gradio_client on the same inputs, interleaved
    call by call, so a change of the machine's load hits all three alike."""
    first, walls, cpus = "vqa", [], []
    for i in range(cold_starts):
        app = serve.start_app(env=env, timeout=300)
        client = Client(app.url, verbose=False)
        api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
        client.predict(*serve.endpoint_args(api["/vqa"]["parameters"], inputs_of(CASES[first][1])), api_name="/vqa")
        walls.append(time.perf_counter() - app.started)
        cpus.append(app.cpu_s())
        if i < cold_starts - 1:
            serve.stop_app(app)
    out = {"cold_start_s": round(statistics.median(walls), 2), "cold_start_runs_s": [round(w, 2) for w in walls],
           "cold_start_cpu_s": round(statistics.median(cpus), 2), "cold_start_task": first}
    try:
        for task in tasks:
            endpoint, calls = CASES[task]
            args = serve.endpoint_args(api[endpoint]["parameters"], inputs_of(calls))
            echo_args = serve.endpoint_args(api["/echo"]["parameters"], inputs_of(calls))
            t = timed({"model": model_calls(task), "e2e": lambda: client.predict(*args, api_name=endpoint),
                       "echo": lambda: client.predict(*echo_args, api_name="/echo")}, repeats, warmup=3)
            out[f"model_{task}"] = {"model": registry.list_models(task)[0], **t["model"]}
            out[f"e2e_{task}"], out[f"echo_{task}"] = t["e2e"], t["echo"]
            print(task, t, flush=True)
        out["server_rss_mb"] = round(app.rss_mb(), 1)
        return out
    finally:
        serve.stop_app(app)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--peer-repeats", type=int, default=5)
    ap.add_argument("--cold-starts", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads for every model (built-in, peers, the app); default: the machine's default")
    ap.add_argument("--tasks", default=None, help="comma-separated subset of the tasks (default: every usable one)")
    ap.add_argument("--text-cache", action="store_true", help="keep MiniLM's text cache on (default: off)")
    ap.add_argument("--out", type=Path, default=paths.artifacts("benchmark"), help="default artifacts/benchmark; docs/benchmark updates the README figures")
    args = ap.parse_args()
    env = {} if args.text_cache else {"MMDEMO_TEXT_CACHE": "0"}
    os.environ.update(env)                    # read when MiniLM is first built, in this process too
    if args.threads:
        torch.set_num_threads(args.threads)
        env["OMP_NUM_THREADS"] = str(args.threads)
    mmdemo.use_native_conv_kernels()          # measure the convolutions the server runs
    load_before = load_average()
    tasks = [t for t in usable_tasks() if not args.tasks or t in args.tasks.split(",")]
    result = {"machine": machine(), "load_average_before": load_before, "targets": TARGETS, "tasks": tasks,
              "text_cache": args.text_cache}
    result.update(app_figures(tasks, args.repeats, env, args.cold_starts))
    ratios = {}
    for task in tasks:
        model, e2e, echo = result[f"model_{task}"]["p50_ms"], result[f"e2e_{task}"]["p50_ms"], result[f"echo_{task}"]["p50_ms"]
        ratios[f"e2e_over_echo_plus_model_{task}"] = round(e2e / (echo + model), 2)
    if "vqa" in tasks:
        c = inputs_of(CASES["vqa"][1])
        t = timed({"vilt": vilt_vqa(c["image"], c["text"]), "vqa": model_calls("vqa")}, args.peer_repeats, warmup=1)
        result["peer_vilt_b32"], result["vqa_beside_vilt"] = t["vilt"], t["vqa"]
        ratios["vilt_over_vqa"] = round(t["vilt"]["p50_ms"] / t["vqa"]["p50_ms"], 1)
    if "caption" in tasks:
        c = inputs_of(CASES["caption"][1])
        words = len(mmdemo.load("caption").predict(**c).output.split())
        t = timed({"blip": blip_caption(c["image"], words + 1), "caption": model_calls("caption")},
                  args.peer_repeats, warmup=1)
        result["peer_blip_base"], result["caption_beside_blip"] = t["blip"], t["caption"]
        result["peer_blip_base"]["new_tokens"] = words + 1
        ratios["blip_over_caption"] = round(t["blip"]["p50_ms"] / t["caption"]["p50_ms"], 1)
    result["ratios"] = ratios
    result["load_average_after"] = load_average()
    met = {k: v <= TARGETS["e2e_over_echo_plus_model"] for k, v in ratios.items() if k.startswith("e2e")}
    met["cold_start_s"] = result["cold_start_s"] <= TARGETS["cold_start_s"]
    for k in ("vilt_over_vqa", "blip_over_caption"):
        if k in ratios:
            met[k] = ratios[k] >= TARGETS[k]
    result["targets_met"] = met
    result["command"] = "python benchmarks/bench.py " + " ".join(sys.argv[1:])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    md = markdown(result)
    args.out.with_suffix(".md").write_text(md)
    print(md)


def markdown(r: dict) -> str:
    m, t = r["machine"], r["targets"]
    lines = [f"`{r.get('command', 'python benchmarks/bench.py')}`", "",
             f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM, torch {m['torch']} with "
             f"{m['torch_threads']} thread(s) per model; load average {r['load_average_before']} before, "
             f"{r['load_average_after']} after (1/5/15 min; the machine may be shared with other jobs). "
             f"MiniLM text cache {'on' if r['text_cache'] else 'off (every question new)'}.", "",
             "| figure | p50 | p95 | ratio | target |", "|---|---|---|---|---|"]
    for task in r["tasks"]:
        mo, e2e, echo = r[f"model_{task}"], r[f"e2e_{task}"], r[f"echo_{task}"]
        ratio = r["ratios"][f"e2e_over_echo_plus_model_{task}"]
        lines += [f"| {task}: model `{mo['model']}`, batch 1 | {mo['p50_ms']} ms | {mo['p95_ms']} ms | | |",
                  f"| {task}: /echo (Gradio only, same inputs) | {echo['p50_ms']} ms | {echo['p95_ms']} ms | | |",
                  f"| {task}: end to end via gradio_client, explanations rendered | {e2e['p50_ms']} ms | {e2e['p95_ms']} ms "
                  f"| {ratio} × (echo + model) | ≤ {t['e2e_over_echo_plus_model']} |"]
    lines.append(f"| cold start: process start → first {r['cold_start_task']} answer (median of "
                 f"{len(r['cold_start_runs_s'])}; the app used {r['cold_start_cpu_s']} s of CPU) | {r['cold_start_s']} s "
                 f"| | | ≤ {t['cold_start_s']} s |")
    if "peer_vilt_b32" in r:
        lines.append(f"| ViLT-B/32 VQA (random weights), same image + question (built-in beside it: "
                     f"{r['vqa_beside_vilt']['p50_ms']} ms) | {r['peer_vilt_b32']['p50_ms']} ms "
                     f"| {r['peer_vilt_b32']['p95_ms']} ms | {r['ratios']['vilt_over_vqa']} × slower than built-in VQA "
                     f"| ≥ {t['vilt_over_vqa']} × |")
    if "peer_blip_base" in r:
        lines.append(f"| BLIP-base captioning (random weights, {r['peer_blip_base']['new_tokens']} tokens greedy; "
                     f"built-in beside it: {r['caption_beside_blip']['p50_ms']} ms) "
                     f"| {r['peer_blip_base']['p50_ms']} ms | {r['peer_blip_base']['p95_ms']} ms "
                     f"| {r['ratios']['blip_over_caption']} × slower than built-in captioning | ≥ {t['blip_over_caption']} × |")
    met = ", ".join(f"{k}: {'met' if v else 'MISSED'}" for k, v in r["targets_met"].items())
    return "\n".join(lines) + f"\n\nTargets: {met}.\n"


if __name__ == "__main__":
    main()
