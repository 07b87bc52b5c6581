"""The "explore and check" section every task with fusion shows (tasks/classify, tasks/vqa panels):
corruption controls per modality, the three reliance views side by side with their agreement line,
interactions, faithfulness curves with a badge, and export (JSON + PNG). Each view has a note saying how
it was computed; the numbers come from the task's model.explain(...) (mmdemo/explain.py)."""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd

from .. import registry
from ..errors import MMDemoError
from ..explain import Explanation, verdict
from ..server import upload_folder
from .components import log, picture
from .draw import curve_panels

SNR_OFF = 40     # the audio SNR slider's "no noise" end
VIEW_KEYS = ["inputs_note", "prediction", "weights", "weights_note", "shapley", "shapley_note", "ablation", "ablation_note",
             "agreement", "interaction", "interaction_note", "faithfulness", "badges", "json"]   # view_values' order


def corruption_controls(modalities) -> list:
    """Sliders per modality (only the modalities the task has), plus the seed. Order = corruption_from's."""
    c = []
    with gr.Row():
        if "image" in modalities:
            with gr.Column(min_width=160):
                c += [gr.Slider(0, 1, 0, step=0.05, label="Image: Gaussian noise σ"),
                      gr.Slider(0, 0.8, 0, step=0.05, label="Image: occluded share"),
                      gr.Slider(0, 3, 0, step=0.25, label="Image: blur radius (px)")]
        if "audio" in modalities:
            with gr.Column(min_width=160):
                c += [gr.Slider(-10, SNR_OFF, SNR_OFF, step=1, label=f"Audio: SNR dB ({SNR_OFF} = no noise)"),
                      gr.Radio(["white", "babble"], value="white", label="Audio: noise kind"),
                      gr.Slider(0, 0.9, 0, step=0.05, label="Audio: silenced share (time mask)")]
        if "text" in modalities:
            with gr.Column(min_width=160):
                c += [gr.Slider(0, 1, 0, step=0.05, label="Text: typo rate (per word)"),
                      gr.Slider(0, 1, 0, step=0.05, label="Text: dropped-word rate"),
                      gr.Textbox(label="Text: a conflicting word added", placeholder="e.g. three")]
        c.append(gr.Number(0, precision=0, label="Corruption seed", min_width=100))
    return c


def corruption_from(modalities, values) -> dict:
    """The controls' values (corruption_controls' order) -> Corruption settings."""
    values, out = list(values), {}
    if "image" in modalities:
        out.update(image_noise=values.pop(0), image_occlusion=values.pop(0), image_blur=values.pop(0))
    if "audio" in modalities:
        snr, kind, mask = values.pop(0), values.pop(0), values.pop(0)
        out.update(audio_snr_db=None if snr is None or snr >= SNR_OFF else float(snr), audio_noise=kind or "white",
                   audio_mask=mask)
    if "text" in modalities:
        out.update(text_typos=values.pop(0), text_drop=values.pop(0), text_conflict=values.pop(0) or "")
    out["seed"] = int(values.pop(0) or 0)
    return {k: (float(v) if isinstance(v, (int, float)) and k != "seed" and v is not None else v) for k, v in out.items()}


def explain(task: str, model_name: str | None, **inputs) -> tuple[Explanation, float]:
    """model.explain for a panel, errors shown to the person (as components.predict does); -> result, ms."""
    t0 = time.perf_counter()
    try:
        return registry.load(task, model_name).explain(**inputs), (time.perf_counter() - t0) * 1000
    except MMDemoError as e:
        raise gr.Error(str(e), print_exception=False)
    except Exception:
        log.exception("%s explain failed", task)
        raise gr.Error("The explanation failed on this input; please try another one.", print_exception=False)


def view_outputs() -> dict:
    """The components of the three reliance views, interactions, faithfulness and export."""
    o = {"inputs_note": gr.Markdown()}
    o["prediction"] = gr.Label(label="Prediction on the corrupted input", num_top_classes=3)
    with gr.Row():
        for key, label in (("weights", "(a) Fusion weights"), ("shapley", "(b) Shapley value"),
                           ("ablation", "(c) Ablation drop")):
            with gr.Column(min_width=180):
                o[key] = gr.BarPlot(x="modality", y="value", sort=None, height=180, label=label)
                o[key + "_note"] = gr.Markdown()
    o["agreement"] = gr.Markdown()
    o["interaction"] = gr.Dataframe(label="Interaction: Shapley interaction index per pair, EMAP", interactive=False)
    o["interaction_note"] = gr.Markdown()
    o["faithfulness"] = picture(label="Faithfulness: a small plot per map - deletion (red) and insertion (green), "
                                      "the map's order solid, random orders dotted")
    o["badges"] = gr.Markdown()
    with gr.Accordion("Export this explanation (JSON, PNG)", open=False):
        o["json"] = gr.JSON(label="The explanation (same object as the API returns)")
        with gr.Row():
            o["export"] = gr.Button("Make JSON + PNG files")
            o["files"] = gr.File(label="Files", file_count="multiple")
    return o


def bars(values: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame({"modality": list(values), "value": [round(float(v), 4) for v in values.values()]})


def interaction_frame(e: Explanation) -> pd.DataFrame:
    rows = [{"what": f"interaction index {k}", "value": round(v, 4)} for k, v in e.interaction.items()]
    if e.emap:
        rows += [{"what": "f (the model)", "value": round(e.emap["f"], 4)},
                 {"what": "EMAP (additive part)", "value": round(e.emap["emap"], 4)},
                 {"what": "non-additive = f - EMAP", "value": round(e.emap["non_additive"], 4)}]
    return pd.DataFrame(rows or [{"what": "needs two modalities", "value": None}])


def badges(e: Explanation) -> str:
    lines = []
    for name, f in e.faithfulness.items():
        d, i = f["deletion"], f["insertion"]
        said = verdict(f)
        badge = {"tie with random": "➖", "beat random here": "✅", "did not beat random": "❌"}[said] + " " + said
        lines.append(f"**{name}**: {badge} — deletion area {d['auc_map']:.3f} (random {d['auc_random']:.3f}), "
                     f"insertion area {i['auc_map']:.3f} (random {i['auc_random']:.3f})")
    return "\n\n".join(lines) + f"\n\n<small>{e.notes.get('faithfulness', '')}</small>"


def small(text: str) -> str:
    return f"<small>{text}</small>"


def view_values(e: Explanation, warning: str = "") -> dict:
    """What view_outputs' components show for one explanation (keys as in view_outputs)."""
    settings = ", ".join(f"{k} {v}" for k, v in e.settings.get("corruption", {}).items()) or "none (clean inputs)"
    return {"inputs_note": small(f"Corruption applied: {settings}. {e.notes.get('corruption', '')}"),
            "prediction": e.scores, "weights": bars(e.fusion_weights),
            "weights_note": small(e.notes.get("fusion", "")) + (f"\n\n{warning}" if warning else ""),
            "shapley": bars(e.shapley), "shapley_note": small(e.notes.get("shapley", "")),
            "ablation": bars(e.ablation_drop), "ablation_note": small(e.notes.get("ablation", "")),
            "agreement": f"**Do the three views agree?** {e.agreement}",
            "interaction": interaction_frame(e),
            "interaction_note": small(e.notes.get("interaction", "") + " " + e.notes.get("emap", "")),
            "faithfulness": curve_panels(e.faithfulness), "badges": badges(e), "json": json.loads(e.to_json()),
            "files": None}


def export_files(task: str, model_name: str | None, **inputs) -> list[str]:
    """The explanation as a JSON file and a PNG figure, written inside Gradio's upload folder: Gradio serves
    them from there without a copy, and the app's cache sweep (mmdemo/server.py) deletes them with the
    request's other files (a folder of their own elsewhere would outlive the app)."""
    e, _ = explain(task, model_name, **inputs)
    cache = upload_folder()
    cache.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="explain-", dir=cache))
    stem = f"{task}-{e.model}-{e.input_hash}"
    (folder / f"{stem}.json").write_text(e.to_json(indent=2))
    e.figure().save(folder / f"{stem}.png")
    return [str(folder / f"{stem}.json"), str(folder / f"{stem}.png")]


def dataset_frames(view: dict | None, groups_key: str, names, what: str, missing: str):
    """A saved dataset view (evaluate's `metrics` + `reliance_by_<group>`) -> the confusion matrix (a figure),
    precision / recall / F1 per class (bar chart rows), the mean Shapley share of each modality per group for
    correct and wrong answers (bar chart rows) and a summary line. `what` says which items these are;
    `missing` is shown when nothing was saved yet."""
    if not view:
        return (None, pd.DataFrame({"class": [], "value": [], "metric": []}),
                pd.DataFrame({"group": [], "share": [], "modality": []}), missing)
    m = view["metrics"]
    per_class = [{"class": f"{c} {k[0].upper()}", "value": round(v[k], 4), "metric": k}
                 for c, v in m["per_class"].items() if v["support"] for k in ("precision", "recall", "f1")]
    shares = [{"group": f"{g} ({kind})", "share": round(v[n], 4), "modality": n}
              for g, groups in view[groups_key].items() for kind, v in groups.items() if v["n"]
              for n in names if n in v]
    summary = (f"On {sum(sum(row) for row in m['confusion'])} {what}: accuracy {m['accuracy']:.4f}, "
               f"macro precision {m['precision_macro']:.4f}, recall {m['recall_macro']:.4f}, F1 {m['f1_macro']:.4f} "
               "(scikit-learn). Bars: precision (P), recall (R) and F1 (F) of each class that occurs; the mean "
               "Shapley share of each modality per group, correct and wrong answers.")
    return confusion_figure(m["confusion"], m["labels"]), pd.DataFrame(per_class), pd.DataFrame(shares), summary


def confusion_figure(confusion, labels):
    """The confusion matrix (rows = truth) as a heatmap with its counts (matplotlib, no pyplot state)."""
    from matplotlib.figure import Figure
    counts = np.asarray(confusion)
    side = min(2.2 + 0.32 * len(labels), 9.0)
    fig = Figure(figsize=(side + 0.8, side))
    ax = fig.add_subplot()
    ax.imshow(counts, cmap="Blues")
    ax.set(xticks=range(len(labels)), yticks=range(len(labels)), xlabel="predicted", ylabel="truth",
           title="Confusion matrix (scikit-learn)")
    ax.set_xticklabels(labels, rotation=90)
    ax.set_yticklabels(labels)
    for (i, j), n in np.ndenumerate(counts):
        if n:
            ax.text(j, i, str(n), ha="center", va="center", fontsize=7 if len(labels) <= 20 else 4,
                    color="white" if n > counts.max() / 2 else "black")
    fig.tight_layout()
    return fig


def dataset_view_outputs(title: str, bars_label: str):
    """The dataset view's components in a closed accordion: summary, confusion matrix, per-class metrics,
    share bars and the button -> (button, [confusion, per_class, shares, summary])."""
    with gr.Accordion(title, open=False):
        summary = gr.Markdown()
        with gr.Row():
            confusion = gr.Plot(label="Confusion matrix (rows = truth)")
            per_class = gr.BarPlot(x="class", y="value", color="metric", sort=None, height=300,
                                   label="Precision (P), recall (R), F1 (F) per class")
        shares = gr.BarPlot(x="group", y="share", color="modality", height=260, label=bars_label)
        show = gr.Button("Show for the selected model")
    return show, [confusion, per_class, shares, summary]
