import pytest

import mmdemo
from mmdemo import registry


def test_builtin_vqa_is_listed_and_default():
    names = mmdemo.list_models("vqa")
    assert names[0] == "easyvqa-gated"
    assert "vqa/easyvqa-gated" in mmdemo.list_models()
    assert "vqa" in mmdemo.list_tasks()


def test_load_builds_once_and_shares(vqa_model):
    assert mmdemo.load("vqa") is vqa_model
    assert mmdemo.load("vqa", "easyvqa-gated") is vqa_model


def test_unknown_task_and_model_raise_project_error():
    with pytest.raises(mmdemo.MMDemoError, match="Unknown task"):
        mmdemo.load("nope")
    with pytest.raises(mmdemo.MMDemoError, match="No vqa model named"):
        mmdemo.load("vqa", "nope")


def test_register_decorator_adds_a_model(monkeypatch):
    monkeypatch.setattr(registry, "_FACTORIES", {k: dict(v) for k, v in registry._FACTORIES.items()})
    monkeypatch.setattr(registry, "_DEFAULTS", dict(registry._DEFAULTS))
    monkeypatch.setattr(registry, "_LOADED", {})
    calls = []

    @mmdemo.register("toy", "echo")
    def echo():
        calls.append(1)
        return object()

    assert mmdemo.list_models("toy") == ["echo"]
    assert mmdemo.load("toy") is mmdemo.load("toy", "echo")
    assert calls == [1]
