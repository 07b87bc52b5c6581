"""scripts/deploy_space.py without the network: the repository passes the dry run; each kind of
violation (front matter, requirements, sizes, binaries outside LFS) fails it with its reason."""
import importlib.util

import pytest

from mmdemo.paths import ROOT

spec = importlib.util.spec_from_file_location("deploy_space", ROOT / "scripts" / "deploy_space.py")
deploy = importlib.util.module_from_spec(spec)
spec.loader.exec_module(deploy)

README = "---\ntitle: t\nsdk: gradio\nsdk_version: 6.31.0\npython_version: \"3.11\"\napp_file: app.py\n---\n# t\n"
REQUIREMENTS = "torch==2.14.1\ngradio==6.31.0\nhuggingface_hub==2.4.0\nnumpy>=2,<3\n"
ATTRIBUTES = "*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.png filter=lfs diff=lfs merge=lfs -text\n"


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("the dry run must not upload")
    monkeypatch.setattr(deploy, "upload", refuse)


def space(tmp_path, readme=README, requirements=REQUIREMENTS, attributes=ATTRIBUTES, files=None):
    """A minimal Space folder (not a git repository: every file counts)."""
    for name, text in {"README.md": readme, "requirements.txt": requirements, ".gitattributes": attributes,
                       "app.py": "print('hi')\n"}.items():
        (tmp_path / name).write_text(text)
    for name, data in (files or {}).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    return tmp_path


def problems(root):
    return "\n".join(deploy.check(root)[1])


def test_the_repository_passes_the_dry_run(capsys):
    assert deploy.main(["someone/mmdemo", "--dry-run", "--root", str(ROOT)]) == 0
    out = capsys.readouterr().out
    assert "lfs  checkpoints/vqa/model.safetensors" in out and "git  app.py" in out and "dry run" in out
    assert "tests/" not in out


def test_a_good_folder_passes_and_lists_its_files(tmp_path, capsys):
    root = space(tmp_path, files={"checkpoints/m.safetensors": b"\0" * 1000, "big.png": b"\0" * 11_000_000})
    assert deploy.main(["u/s", "--dry-run", "--root", str(root)]) == 0
    assert "lfs  big.png" in capsys.readouterr().out


@pytest.mark.parametrize("readme, reason", [
    ("# no front matter\n", "no front matter"),
    (README.replace("sdk: gradio", "sdk: docker"), "sdk is 'docker'"),
    (README.replace("app_file: app.py", "app_file: main.py"), "app_file 'main.py'"),
    (README.replace("6.31.0", "5.0.0"), "sdk_version '5.0.0' does not match"),
    (README.replace('python_version: "3.11"\n', ""), "no python_version")])
def test_front_matter_violations(tmp_path, readme, reason):
    assert reason in problems(space(tmp_path, readme=readme))


@pytest.mark.parametrize("requirements, reason", [
    (REQUIREMENTS.replace("torch==2.14.1", "torch"), "torch has no version"),
    (REQUIREMENTS.replace("torch==2.14.1", "torch>=2"), "torch must be pinned exactly"),
    (REQUIREMENTS.replace("huggingface_hub==2.4.0\n", ""), "huggingface_hub is not listed"),
    (REQUIREMENTS.replace("numpy>=2,<3", "numpy"), "numpy has no version"),
    ("", "missing or empty")])
def test_requirement_violations(tmp_path, requirements, reason):
    assert reason in problems(space(tmp_path, requirements=requirements))


@pytest.mark.parametrize("files, reason", [
    ({"data.bin": b"x" * 10_000_001}, "data.bin: 10.0 MB and no .gitattributes LFS rule"),
    ({"checkpoints/big.safetensors": b"\0" * 10_500_000}, "checkpoints must be <= 10 MB"),
    ({"examples/a.wav": b"RIFF\0\0"}, "examples/a.wav: a binary file no .gitattributes LFS rule covers")])
def test_size_and_binary_violations_fail_the_dry_run(tmp_path, files, reason, capsys):
    root = space(tmp_path, files=files)
    assert deploy.main(["u/s", "--dry-run", "--root", str(root)]) == 1
    assert reason in capsys.readouterr().err


def test_a_bad_space_id_is_refused(tmp_path):
    with pytest.raises(SystemExit):
        deploy.main(["not a space", "--dry-run", "--root", str(space(tmp_path))])
