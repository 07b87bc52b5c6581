"""Deploy the repository to a Hugging Face Space, after checking what Spaces need.

    python scripts/deploy_space.py user/name [--dry-run] [--root .]      (make space SPACE=user/name)

Checks (each violation is listed; any one stops the upload):
  - README.md front matter: sdk: gradio, app_file names a file that is uploaded, sdk_version equals
    the gradio pin in requirements.txt, python_version present;
  - requirements.txt: every requirement has a version (==, or a range), torch/torchvision/torchaudio/
    transformers/gradio/huggingface_hub pinned exactly (==), huggingface_hub listed (this script imports it);
  - file sizes: every file <= 10 MB unless a .gitattributes LFS rule covers it, checkpoints/ files
    <= 10 MB regardless, and every binary file covered by an LFS rule (the Hub refuses plain-git
    binaries over 1 MB; upload_folder sends LFS/Xet files by itself).
What is uploaded: the files git tracks (else every file under --root), minus EXCLUDE.
--dry-run lists them with their sizes and how each goes (lfs or git) and never touches the network.
The upload is HfApi().upload_folder (token from `hf auth login` or HF_TOKEN).
"""
from __future__ import annotations

import argparse
import fnmatch
import re
import subprocess
import sys
from pathlib import Path

MAX_FILE_BYTES = 10 * 1000 * 1000          # 10 MB: the Hub's limit for a file outside LFS/Xet
EXCLUDE = ("tests/*", ".ci/*", ".gitignore")
SKIP_DIRS = {".git", ".venv", ".cache", "artifacts", "__pycache__", ".pytest_cache", ".gradio", "node_modules"}
EXACT_PINS = ("torch", "torchvision", "torchaudio", "transformers", "gradio", "huggingface_hub")


def front_matter(readme: Path) -> dict[str, str]:
    """The `key: value` lines between the README's opening `---` lines (flat YAML is all Spaces use)."""
    lines = readme.read_text(encoding="utf-8").splitlines() if readme.is_file() else []
    if not lines or lines[0].strip() != "---" or "---" not in [x.strip() for x in lines[1:]]:
        return {}
    end = [x.strip() for x in lines[1:]].index("---") + 1
    pairs = (x.split(":", 1) for x in lines[1:end] if ":" in x and not x.startswith(" "))
    return {k.strip(): v.strip().strip("'\"") for k, v in pairs}


def requirements(path: Path) -> dict[str, str]:
    """requirements.txt -> {normalised name: version specifier ('' when none)}; -r/-e lines and comments skipped."""
    found = {}
    for line in path.read_text().splitlines() if path.is_file() else []:
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        m = re.match(r"([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*(.*)", line)
        found[re.sub(r"[-_.]+", "_", m.group(1)).lower()] = m.group(3).strip()
    return found


def check_front_matter(meta: dict, pins: dict, files: list[str]) -> list[str]:
    problems = []
    if not meta:
        return ["README.md has no front matter (--- sdk: gradio ... ---)"]
    if meta.get("sdk") != "gradio":
        problems.append(f"front matter sdk is {meta.get('sdk')!r}, not 'gradio'")
    if meta.get("app_file") not in files:
        problems.append(f"front matter app_file {meta.get('app_file')!r} is not among the uploaded files")
    gradio_pin = pins.get("gradio", "")
    if f"=={meta.get('sdk_version')}" != gradio_pin:
        problems.append(f"front matter sdk_version {meta.get('sdk_version')!r} does not match requirements' "
                        f"gradio{gradio_pin or ' (unpinned)'}")
    if "python_version" not in meta:
        problems.append("front matter has no python_version")
    return problems


def check_requirements(pins: dict) -> list[str]:
    if not pins:
        return ["requirements.txt is missing or empty"]
    problems = [f"requirements: {name} has no version" for name, spec in pins.items() if not spec]
    problems += [f"requirements: {name} must be pinned exactly (==), not {pins[name]!r}"
                 for name in EXACT_PINS if name in pins and pins[name] and not pins[name].startswith("==")]
    problems += [f"requirements: {name} is not listed" for name in ("gradio", "huggingface_hub") if name not in pins]
    return problems


def lfs_patterns(root: Path) -> list[str]:
    attributes = root / ".gitattributes"
    lines = attributes.read_text().splitlines() if attributes.is_file() else []
    return [x.split()[0] for x in lines if x.strip() and not x.startswith("#") and "filter=lfs" in x]


def goes_lfs(path: str, patterns: list[str]) -> bool:
    """git's rule for a pattern without a slash: it matches the file name in any folder."""
    return any(fnmatch.fnmatch(path if "/" in p else Path(path).name, p) for p in patterns)


def is_binary(path: Path) -> bool:
    with open(path, "rb") as f:
        return b"\0" in f.read(8192)


def check_sizes(root: Path, files: list[str], patterns: list[str]) -> list[str]:
    problems = []
    for name in files:
        size, lfs = (root / name).stat().st_size, goes_lfs(name, patterns)
        if name.startswith("checkpoints/") and size > MAX_FILE_BYTES:
            problems.append(f"{name}: {size / 1e6:.1f} MB; checkpoints must be <= 10 MB")
        elif size > MAX_FILE_BYTES and not lfs:
            problems.append(f"{name}: {size / 1e6:.1f} MB and no .gitattributes LFS rule covers it")
        elif not lfs and is_binary(root / name):
            problems.append(f"{name}: a binary file no .gitattributes LFS rule covers")
    return problems


def files_to_upload(root: Path) -> list[str]:
    """The files git tracks under root (else every file outside SKIP_DIRS), minus EXCLUDE."""
    try:
        out = subprocess.run(["git", "-C", str(root), "ls-files", "-z"], check=True, capture_output=True).stdout
        names = [n for n in out.decode().split("\0") if n]
    except (subprocess.CalledProcessError, FileNotFoundError):
        names = []
    if not names:
        names = [str(p.relative_to(root)) for p in root.rglob("*")
                 if p.is_file() and not SKIP_DIRS & set(p.relative_to(root).parts)]
    return sorted(n for n in names if (root / n).is_file() and not (root / n).is_symlink()
                  and not any(fnmatch.fnmatch(n, e) for e in EXCLUDE))


def check(root: Path) -> tuple[list[str], list[str]]:
    """(files to upload, every violation found)."""
    files = files_to_upload(root)
    pins = requirements(root / "requirements.txt")
    problems = check_front_matter(front_matter(root / "README.md"), pins, files)
    problems += check_requirements(pins)
    problems += check_sizes(root, files, lfs_patterns(root))
    return files, problems


def listing(root: Path, files: list[str]) -> str:
    patterns = lfs_patterns(root)
    rows = [f"{(root / n).stat().st_size:>12,}  {'lfs' if goes_lfs(n, patterns) else 'git'}  {n}" for n in files]
    total = sum((root / n).stat().st_size for n in files)
    return "\n".join(rows + [f"{len(files)} files, {total / 1e6:.1f} MB"])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("space", help="the Space's id, user/name")
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    ap.add_argument("--dry-run", action="store_true", help="check and list what would be uploaded; no network")
    ap.add_argument("--private", action="store_true", help="create the Space as private if it does not exist")
    args = ap.parse_args(argv)
    if not re.fullmatch(r"[\w.\-]+/[\w.\-]+", args.space):
        ap.error(f"SPACE must look like user/name, not {args.space!r}")
    files, problems = check(args.root)
    print(listing(args.root, files))
    if problems:
        print("\nNot deployable:\n" + "\n".join(f"  - {p}" for p in problems), file=sys.stderr)
        return 1
    if args.dry_run:
        print(f"\ndry run: every check passed; `python scripts/deploy_space.py {args.space}` uploads these files.")
        return 0
    return upload(args.root, args.space, files, args.private)


def upload(root: Path, space: str, files: list[str], private: bool) -> int:
    from huggingface_hub import HfApi
    api = HfApi()
    api.create_repo(space, repo_type="space", space_sdk="gradio", exist_ok=True, private=private)
    commit = api.upload_folder(folder_path=str(root), repo_id=space, repo_type="space", allow_patterns=files,
                               commit_message="Deploy mmdemo (scripts/deploy_space.py)")
    print(f"uploaded: {commit}\nhttps://huggingface.co/spaces/{space}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
