"""mmdemo web app (the Hugging Face Space's app_file): `python app.py --help` for the options.
Everything lives in mmdemo/app.py; this file only starts it."""
from mmdemo.app import main

if __name__ == "__main__":
    main()
