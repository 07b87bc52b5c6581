"""What an output picture costs a request, in a bare Gradio app (no model): the same 256x256 picture
returned as a gr.Image file (what the panels used), inline in the answer (components.picture, what they
use now), two files, or a 5-picture gr.Gallery; a text answer is the baseline.

    python benchmarks/output_pictures.py [--repeats 30]   -> the table on stdout

End to end through gradio_client on loopback (it downloads every output file, as a browser would).
"""
import argparse
import os
import statistics
import time

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
from gradio_client import Client  # noqa: E402
from PIL import Image  # noqa: E402

from common import cpu_name  # noqa: E402
from mmdemo.serve import free_port  # noqa: E402
from mmdemo.ui.components import clickable_picture, picture  # noqa: E402

PICTURE = Image.fromarray(np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8))
CASES = {"text only": "text", "1 picture as a file (gr.Image)": "file", "1 picture inline (components.picture)": "inline",
         "2 pictures as files": "files2", "2 pictures inline": "inline2", "5 pictures, gr.Gallery": "gallery5"}


def app() -> gr.Blocks:
    with gr.Blocks() as demo:
        text_in, text_out, go = gr.Textbox(), gr.Textbox(), gr.Button()
        files = [clickable_picture(label="file") for _ in range(2)]
        inline = [picture(label="inline") for _ in range(2)]
        gallery = gr.Gallery(format="jpeg")
        go.click(lambda t: t, text_in, text_out, api_name="text")
        go.click(lambda t: PICTURE, text_in, files[0], api_name="file")
        go.click(lambda t: PICTURE, text_in, inline[0], api_name="inline")
        go.click(lambda t: (PICTURE, PICTURE), text_in, files, api_name="files2")
        go.click(lambda t: (PICTURE, PICTURE), text_in, inline, api_name="inline2")
        go.click(lambda t: [PICTURE] * 5, text_in, gallery, api_name="gallery5")
    return demo.queue()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    demo, port = app(), free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        times = {name: [] for name in CASES}
        for i in range(args.repeats + 5):             # interleaved, the first 5 rounds unmeasured
            for name, endpoint in CASES.items():
                t = time.perf_counter()
                client.predict("x", api_name=f"/{endpoint}")
                if i >= 5:
                    times[name].append((time.perf_counter() - t) * 1000)
    finally:
        demo.close()
    base = statistics.median(times["text only"])
    print(f"{cpu_name()}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; median of {args.repeats}\n\n"
          "| answer | p50 | more than text only |\n|---|---|---|")
    for name, ts in times.items():
        print(f"| {name} | {statistics.median(ts):.1f} ms | {statistics.median(ts) - base:+.1f} ms |")


if __name__ == "__main__":
    main()
