"""mmdemo web app: `python app.py [--host 0.0.0.0] [--port 7860] [--share] [--backend TASK=HUB_ID_OR_FOLDER]`.

Serves the Gradio Blocks UI over the built-in offline models (and any other registered ones).
On a Hugging Face Space this file is the app_file and runs as is.
"""
import argparse
import os
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from mmdemo.data.inputs import MAX_FILE_BYTES  # noqa: E402
from mmdemo.models.hf import register_flag_backends  # noqa: E402
from mmdemo.ui import build_demo  # noqa: E402

register_flag_backends(sys.argv[1:])   # --backend flags, before the UI lists the models
demo = build_demo()


def main(argv=None):
    ap = argparse.ArgumentParser(description="mmdemo: multimodal models that explain themselves")
    ap.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                    help="address to listen on (0.0.0.0 for every interface)")
    ap.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    ap.add_argument("--share", action="store_true",
                    help="also ask for a public gradio.live link (off by default; needs internet)")
    ap.add_argument("--backend", action="append", default=[], metavar="TASK=HUB_ID_OR_FOLDER",
                    help="add a pretrained Hugging Face model (hub id or local folder) to a task's models "
                         "(tasks: caption, vqa, zeroshot, audio, transcribe); repeatable")
    args = ap.parse_args(argv)
    demo.queue(default_concurrency_limit=2, max_size=64)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, ssr_mode=False,
                max_file_size=MAX_FILE_BYTES, footer_links=["api"], show_error=True)


if __name__ == "__main__":
    main()
