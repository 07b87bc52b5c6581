"""mmdemo web app: `python app.py [--host 0.0.0.0] [--port 7860] [--share] [--classifier FOLDER]`.

Serves the Gradio Blocks UI over the built-in offline models (and any other registered ones).
On a Hugging Face Space this file is the app_file and runs as is.
"""
import argparse
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from mmdemo.data.inputs import MAX_FILE_BYTES  # noqa: E402
from mmdemo.ui import build_demo  # noqa: E402

demo = build_demo()


def main(argv=None):
    ap = argparse.ArgumentParser(description="mmdemo: multimodal models that explain themselves")
    ap.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                    help="address to listen on (0.0.0.0 for every interface)")
    ap.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    ap.add_argument("--share", action="store_true",
                    help="also ask for a public gradio.live link (off by default; needs internet)")
    ap.add_argument("--classifier", default=None,
                    help="serve this classifier checkpoint folder (from `python -m mmdemo.train classify --manifest ...`)")
    args = ap.parse_args(argv)
    global demo
    if args.classifier:
        from mmdemo.errors import MMDemoError
        from mmdemo.models.classify import register_folder
        try:
            register_folder(args.classifier, default=True)
        except MMDemoError as e:
            ap.error(str(e))
        demo = build_demo()
    demo.queue(default_concurrency_limit=2, max_size=64)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, ssr_mode=False,
                max_file_size=MAX_FILE_BYTES, footer_links=["api"], show_error=True)


if __name__ == "__main__":
    main()
